// SPDX-License-Identifier: LGPL-2.1-or-later
// Clients written for the services Herald replaces, replayed unmodified:
//  - seed 002 (Go realtime service): plain `ws` clients at /ws?token=, tokens
//    with lowercase roles and the user in `userID` ([auth] user-claim lists
//    it), and its Message {type, room, userId, payload, timestamp} published
//    on realtime:notifications: userId narrows the room to that user; "" (Go's
//    zero value) is the whole room; a userId that names nobody is refused;
//  - seed 001 (Python Socket.IO gateway): `io(url, {auth: {token}})`,
//    `socket.emit('subscribe_solicitud', {solicitud_id: 'sol-123'})`, one
//    `pong` per `ping`, and `user_left` when a member disconnects — once per
//    user, not while the user still has another connection in the room.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

// POST /api/events expecting a refusal
async function publishRefused(channel, payload) {
  const res = await fetch(`${h.BASE}/api/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${h.token({ sub: 'svc', role: 'SERVICE' })}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, payload }),
  });
  return { status: res.status, body: await res.json() };
}

// seed 002's Message, as encoding/json marshals it (no omitempty: userId is always there)
function message(userId, n) {
  return {
    type: 'notification',
    room: 'notifications',
    userId,
    payload: { title: 'Nuevo pedido', message: `Tienes un nuevo pedido #${n}`, priority: 'high' },
    timestamp: '2025-11-15T10:00:00Z',
  };
}

async function overDelivery(out) {
  const u5 = await h.plainConnect(h.token({ userID: '5', role: 'client' }), 'u5');
  const u5sio = await h.sioConnect(h.token({ userID: '5', role: 'client' }), 'u5-sio');
  const u6 = await h.plainConnect(h.token({ userID: '6', role: 'client' }), 'u6');
  const admin = await h.plainConnect(h.token({ userID: '1', role: 'admin' }), 'admin');
  // the user id came from the third claim of [auth] user-claim
  assert.equal(u5.connected.payload.user_id, '5');
  assert.equal(u6.connected.payload.user_id, '6');
  // the lowercase role joined the CLIENT and ADMIN role rooms
  assert.deepEqual(u5.connected.payload.rooms.sort(), ['client', 'user_5']);
  assert.deepEqual(admin.connected.payload.rooms.sort(), ['admin', 'user_1']);
  for (const c of [u5, u6, admin]) {
    c.send({ type: 'subscribe', room: 'notifications' });
    await c.mb.take((m) => m.type === 'subscribed', `${c.name} subscribed`);
  }
  assert.deepEqual(await u5sio.ack('subscribe', { room: 'notifications' }), { ok: true, room: 'notifications' });

  const everyone = [u5, u5sio, u6, admin];
  const got = (c, n) => (c.socket ? c.mb.count((m) => m.event === 'notification' && m.args[0].payload.message.endsWith(`#${n}`))
    : c.mb.count((m) => m.type === 'notification' && m.payload.message.endsWith(`#${n}`)));
  const fenceAll = async () => { for (const c of everyone) await c.fence(); };

  // userId "5": user 5's two connections, not user 6, not the admin
  let r = await h.publish('realtime:notifications', message('5', 1));
  assert.equal(r.delivered, 2);
  await fenceAll();
  assert.deepEqual(everyone.map((c) => got(c, 1)), [1, 1, 0, 0]);
  // the verbatim Message, as the Go service sent it
  const m1 = u5.mb.all.find((m) => m.type === 'notification');
  assert.deepEqual(m1, message('5', 1));
  // a number is its decimal text
  r = await h.publish('realtime:notifications', message(6, 2));
  assert.equal(r.delivered, 1);
  // user_id works the same
  const snake = message(undefined, 3);
  delete snake.userId;
  snake.user_id = '1';
  r = await h.publish('realtime:notifications', snake);
  assert.equal(r.delivered, 1);
  // "" is encoding/json's zero value for "no user": the whole room
  r = await h.publish('realtime:notifications', message('', 4));
  assert.equal(r.delivered, 4);
  // a user not in the room: nobody, never the room
  r = await h.publish('realtime:notifications', message('77', 5));
  assert.equal(r.delivered, 0);
  await fenceAll();
  assert.deepEqual(everyone.map((c) => got(c, 2)), [0, 0, 1, 0]);
  assert.deepEqual(everyone.map((c) => got(c, 3)), [0, 0, 0, 1]);
  assert.deepEqual(everyone.map((c) => got(c, 4)), [1, 1, 1, 1]);
  assert.deepEqual(everyone.map((c) => got(c, 5)), [0, 0, 0, 0]);

  // values that cannot name a user are refused, never delivered room-wide
  const bad = [true, 5.5, { id: 5 }, ['5'], 'x'.repeat(129), 'a\nb'];
  const refusals = [];
  for (const userId of bad) {
    const res = await publishRefused('realtime:notifications', message(userId, 6));
    assert.equal(res.status, 400, JSON.stringify(res));
    assert.equal(res.body.error, 'invalid_argument');
    refusals.push(res.body.message);
  }
  const both = message('5', 6);
  both.user_id = '6';
  const res = await publishRefused('realtime:notifications', both);
  assert.equal(res.status, 400);
  refusals.push(res.body.message);
  await fenceAll();
  assert.deepEqual(everyone.map((c) => got(c, 6)), [0, 0, 0, 0]);
  out.refusals = refusals;
  out.invalid_user_total = (await h.stats()).top.route_invalid_user_total;
  for (const c of everyone) {
    if (c.socket) c.socket.disconnect(); else await c.close();
  }
}

async function pings(out) {
  const sio = await h.sioConnect(h.token({ userID: 'p1', role: 'advisor' }), 'ping-sio');
  const plain = await h.plainConnect(h.token({ userID: 'p2', role: 'advisor' }), 'ping-plain');
  // seed 001: emit('ping') without an ack → exactly one `pong` {timestamp}
  sio.socket.emit('ping');
  await sio.ack('subscribe', { room: 'solicitud_1' }); // in order: the pong came first
  const pongs = sio.mb.all.filter((m) => m.event === 'pong');
  assert.equal(pongs.length, 1);
  assert.deepEqual(Object.keys(pongs[0].args[0]), ['timestamp']);
  assert.equal(sio.mb.count((m) => m.event !== 'pong' && m.event !== 'connected'), 0);
  // with an ack: the ack, and still one pong event
  const ack = await sio.ack('ping');
  assert.equal(ack.ok, true);
  await sio.ack('subscribe', { room: 'solicitud_1' });
  assert.equal(sio.mb.count((m) => m.event === 'pong'), 2);
  // plain: one {"type":"pong"}
  plain.send({ type: 'ping' });
  plain.send({ type: 'subscribe', room: 'solicitud_1' });
  await plain.mb.take((m) => m.type === 'subscribed', 'plain subscribed');
  assert.equal(plain.mb.count((m) => m.type === 'pong'), 1);
  out.sio_pongs = sio.mb.count((m) => m.event === 'pong');
  out.plain_pongs = plain.mb.count((m) => m.type === 'pong');
  sio.socket.disconnect();
  await plain.close();
}

async function userLeft(out) {
  const room = 'solicitud_sol-123';
  const watcher = await h.plainConnect(h.token({ userID: 'w', role: 'admin' }), 'watcher');
  watcher.send({ type: 'subscribe', room });
  await watcher.mb.take((m) => m.type === 'subscribed', 'watcher subscribed');
  // seed 001's snippet
  const a = await h.sioConnect(h.token({ userID: 'a', role: 'advisor' }), 'a');
  a.socket.emit('subscribe_solicitud', { solicitud_id: 'sol-123' });
  await a.mb.take((m) => m.event === 'subscribed', 'a subscribed');
  // user b with two connections in the room
  const b1 = await h.plainConnect(h.token({ userID: 'b', role: 'advisor' }), 'b1');
  const b2 = await h.sioConnect(h.token({ userID: 'b', role: 'advisor' }), 'b2');
  b1.send({ type: 'subscribe', room });
  await b1.mb.take((m) => m.type === 'subscribed', 'b1 subscribed');
  assert.deepEqual(await b2.ack('subscribe_solicitud', { solicitud_id: 'sol-123' }), { ok: true, room });
  await a.mb.take((m) => m.event === 'user_joined' && m.args[0].user_id === 'b', 'a sees b join');

  // b1 drops without a close frame: b is still in the room through b2
  b1.ws.terminate();
  await h.waitStats((s) => s.connections === 3, 'b1 gone');
  await watcher.fence();
  await a.fence();
  assert.equal(watcher.mb.count((m) => m.type === 'user_left'), 0);
  // b2 disconnects: b left, once
  b2.socket.disconnect();
  const wl = await watcher.mb.take((m) => m.type === 'user_left', 'watcher: b left');
  assert.deepEqual(wl.payload, { user_id: 'b', role: 'advisor', room });
  const al = await a.mb.take((m) => m.event === 'user_left', 'a: b left');
  assert.deepEqual(al.args, [{ user_id: 'b', role: 'advisor', room }]);
  // a's transport dies (no Socket.IO disconnect packet)
  a.socket.io.engine.close();
  const wa = await watcher.mb.take((m) => m.type === 'user_left', 'watcher: a left');
  assert.deepEqual(wa.payload, { user_id: 'a', role: 'advisor', room });
  await watcher.fence();
  out.watcher_presence = watcher.mb.all
    .filter((m) => m.type === 'user_joined' || m.type === 'user_left')
    .map((m) => `${m.type} ${m.payload.user_id}`);
  await watcher.close();
}

async function main() {
  const out = {};
  await overDelivery(out);
  await pings(out);
  await userLeft(out);
  const end = await h.waitStats((s) => s.connections === 0 && s.sessions === 0, 'everybody gone');
  out.user_left_total = end.user_left_total;
  return out;
}

h.run(main);
