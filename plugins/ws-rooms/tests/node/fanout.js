// SPDX-License-Identifier: LGPL-2.1-or-later
// Fan-out: 200 clients (half plain, half Socket.IO over websocket), each in
// several rooms (role room, personal room, subscribed rooms); events published
// to rooms, to users and on the solicitud route (several target rooms at once)
// reach every client exactly once if it is in one of the targets, and nobody
// else. Prints the numbers; times are reported, never asserted.
//   node fanout.js [clients] [events]
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const N_CLIENTS = Number(process.argv[2] || 200);
const N_EVENTS = Number(process.argv[3] || 300);
const ROLES = [
  { role: 'SELLER', room: 'seller', may: ['orders', 'inventory', 'products', 'notifications'] },
  { role: 'CLIENT', room: 'client', may: ['notifications', 'cart', 'myOrders'] },
  { role: 'ADVISOR', room: 'advisor', may: ['solicitud_1', 'solicitud_2', 'solicitud_3', 'solicitud_4'] },
  { role: 'ADMIN', room: 'admin', may: ['orders', 'solicitud_1', 'notifications', 'cart'] },
  { role: 'DELIVERY', room: 'delivery', may: ['deliveries', 'orders'] },
];
const ALL_ROOMS = [...new Set(ROLES.flatMap((r) => [r.room, ...r.may]))];

function rng(seed) {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

async function connect(i) {
  const spec = ROLES[i % ROLES.length];
  const user = `f${i}`;
  const sio = i % 2 === 1;
  const tok = h.token({ sub: user, role: spec.role });
  // 1 to 3 subscribed rooms, picked by i
  const subs = spec.may.filter((_, k) => ((i >> 1) + k) % 3 !== 0).slice(0, 1 + (i % 3));
  const c = sio ? await h.sioConnect(tok, user, { transports: ['websocket'] }) : await h.plainConnect(tok, user);
  c.sio = sio;
  c.user = user;
  c.rooms = new Set([spec.room, `user_${user}`, ...subs]);
  for (const room of subs) {
    if (sio) {
      assert.deepEqual(await c.ack('subscribe', { room }), { ok: true, room });
    } else {
      c.send({ type: 'subscribe', room });
      await c.mb.take((m) => m.type === 'subscribed' && m.room === room, `${user} subscribed ${room}`);
    }
  }
  return c;
}

// the keys of the events a client received
function received(c) {
  if (c.sio)
    return c.mb.all.filter((m) => m.event === 'fan' || m.event === 'solicitud_created').map((m) => m.args[0].k);
  return c.mb.all.filter((m) => m.type === 'fan').map((m) => m.k)
    .concat(c.mb.all.filter((m) => m.type === 'solicitud_created').map((m) => m.payload.k));
}

async function main() {
  const before = await h.stats();
  const t0 = Date.now();
  const clients = [];
  // connect in waves to keep the handshakes bounded
  for (let i = 0; i < N_CLIENTS; i += 20) {
    const wave = [];
    for (let j = i; j < Math.min(i + 20, N_CLIENTS); j++)
      wave.push(connect(j));
    clients.push(...await Promise.all(wave));
  }
  const connectMs = Date.now() - t0;
  const s1 = await h.stats();
  assert.equal(s1.connections_by_protocol.plain - before.connections_by_protocol.plain, Math.ceil(N_CLIENTS / 2));
  assert.equal(s1.connections_by_protocol.socketio - before.connections_by_protocol.socketio, Math.floor(N_CLIENTS / 2));

  // the events: each has targets (rooms); expected recipients are computed here
  const rand = rng(42);
  const events = [];
  for (let k = 0; k < N_EVENTS; k++) {
    const kind = rand();
    if (kind < 0.6) {
      const room = ALL_ROOMS[Math.floor(rand() * ALL_ROOMS.length)];
      events.push({ k, channel: `ws:room:${room}`, payload: { type: 'fan', k, room }, targets: [room] });
    } else if (kind < 0.8) {
      const user = `f${Math.floor(rand() * N_CLIENTS)}`;
      events.push({ k, channel: `ws:user:${user}`, payload: { type: 'fan', k, user }, targets: [`user_${user}`] });
    } else {
      const id = 1 + Math.floor(rand() * 4);
      const asesor = `f${Math.floor(rand() * N_CLIENTS)}`;
      events.push({
        k, channel: 'solicitud.created', payload: { solicitud_id: id, asesor_id: asesor, k },
        targets: ['admin', 'advisor', `solicitud_${id}`, `user_${asesor}`],
      });
    }
  }
  const t1 = Date.now();
  let expectedTotal = 0;
  let reachedTotal = 0;
  const expected = new Map(clients.map((c) => [c, new Set()]));
  // a few publishes in flight at once
  for (let k = 0; k < events.length; k += 4) {
    const batch = events.slice(k, k + 4);
    const res = await Promise.all(batch.map((e) => h.publish(e.channel, e.payload)));
    batch.forEach((e, j) => {
      let n = 0;
      for (const c of clients) {
        if (e.targets.some((t) => c.rooms.has(t))) {
          expected.get(c).add(e.k);
          n++;
        }
      }
      assert.equal(res[j].delivered, n, `event ${e.k} ${e.channel}: delivered ${res[j].delivered}, expected ${n}`);
      expectedTotal += n;
      reachedTotal += res[j].delivered;
    });
  }
  const publishMs = Date.now() - t1;
  // a ping answered on every connection: nothing is in flight any more
  await Promise.all(clients.map((c) => c.fence()));
  const deliverMs = Date.now() - t1;

  let receivedTotal = 0;
  let wrong = 0;
  let duplicates = 0;
  let missing = 0;
  for (const c of clients) {
    const got = received(c);
    receivedTotal += got.length;
    const want = expected.get(c);
    const seen = new Set();
    for (const k of got) {
      if (seen.has(k))
        duplicates++;
      seen.add(k);
      if (!want.has(k))
        wrong++;
    }
    for (const k of want) {
      if (!seen.has(k))
        missing++;
    }
  }
  assert.equal(duplicates, 0, 'duplicates');
  assert.equal(wrong, 0, 'events of other rooms');
  assert.equal(missing, 0, 'missing events');
  assert.equal(receivedTotal, expectedTotal);
  const s2 = await h.stats();
  assert.equal(s2.delivered_total - before.delivered_total, expectedTotal);
  const roomsPerClient = clients.reduce((n, c) => n + c.rooms.size, 0) / clients.length;
  for (const c of clients) {
    if (c.sio)
      c.socket.disconnect();
    else
      c.ws.close();
  }
  const end = await h.waitStats((x) => x.sessions === 0, 'sessions gone', 60000);
  return {
    clients: clients.length,
    plain: clients.filter((c) => !c.sio).length,
    socketio: clients.filter((c) => c.sio).length,
    rooms_per_client: Number(roomsPerClient.toFixed(2)),
    rooms: s1.rooms,
    events: events.length,
    deliveries_expected: expectedTotal,
    deliveries_received: receivedTotal,
    delivered_reported: reachedTotal,
    duplicates,
    wrong,
    missing,
    connect_ms: connectMs,
    publish_ms: publishMs,
    deliver_ms: deliverMs,
    closes_client: end.closes_total.client - before.closes_total.client,
  };
}

h.run(main);
