// SPDX-License-Identifier: LGPL-2.1-or-later
// N plain clients spread over rooms: each receives exactly the events of its
// rooms, once and in order
'use strict';
const crypto = require('crypto');
const { requireClient, args, publish, waitFor, finish, fail } = require('./common.js');
const WebSocket = requireClient('ws');

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function sign(secret, claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

const ROOMS = ['orders', 'inventory', 'products', 'notifications'];

async function main() {
  const a = args();
  const n = a.clients;
  const perRoom = a.events_per_room;
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const clients = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const token = sign(a.secret, { sub: `u${i}`, role: 'SELLER', exp });
    const ws = new WebSocket(`${a.ws}?token=${token}`);
    // client i is in the rooms whose bit is set in (i % 15) + 1
    const rooms = ROOMS.filter((_, bit) => (((i % 15) + 1) >> bit) & 1);
    const c = { ws, rooms, msgs: [], subscribed: 0 };
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'subscribed') c.subscribed++;
      else c.msgs.push(m);
    });
    ws.on('open', () => rooms.forEach((room) => ws.send(JSON.stringify({ type: 'subscribe', room }))));
    clients.push(c);
  }
  await waitFor(() => clients.every((c) => c.subscribed === c.rooms.length), 30000, 'subscriptions');
  const connectMs = Date.now() - t0;
  const t1 = Date.now();
  let reached = 0;
  for (let k = 0; k < perRoom; k++) {
    for (const room of ROOMS) {
      const r = await publish(a.base, a.service, `ws:room:${room}`, { type: 'room_event', room, k });
      reached += r.delivered;
    }
  }
  const expected = clients.reduce((sum, c) => sum + c.rooms.length * perRoom, 0);
  // each client also answers a ping after the last event: then nothing is in flight
  clients.forEach((c) => c.ws.send(JSON.stringify({ type: 'ping' })));
  await waitFor(() => clients.every((c) => c.msgs.some((m) => m.type === 'pong')), 30000, 'pongs');
  const deliverMs = Date.now() - t1;
  let received = 0, wrong = 0, duplicates = 0, misordered = 0;
  for (const c of clients) {
    const events = c.msgs.filter((m) => m.type === 'room_event');
    received += events.length;
    const seen = new Set();
    const last = {};
    for (const e of events) {
      const key = `${e.room}/${e.k}`;
      if (!c.rooms.includes(e.room)) wrong++;
      if (seen.has(key)) duplicates++;
      seen.add(key);
      if (last[e.room] !== undefined && e.k <= last[e.room]) misordered++;
      last[e.room] = e.k;
    }
    if (events.length !== c.rooms.length * perRoom) wrong++;
  }
  clients.forEach((c) => c.ws.close());
  finish({ clients: n, expected, received, reached, wrong, duplicates, misordered, connect_ms: connectMs, deliver_ms: deliverMs });
}

main().catch(fail);
