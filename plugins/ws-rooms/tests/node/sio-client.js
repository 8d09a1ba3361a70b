// SPDX-License-Identifier: LGPL-2.1-or-later
// socket.io-client v4, unmodified, in one of three transport set-ups:
//   node sio-client.js default     default options: polling first, then the upgrade
//   node sio-client.js websocket   transports: ['websocket']
//   node sio-client.js polling     transports: ['polling'], upgrade: false
// CONNECT with auth {token}, `connected`, subscribe_solicitud and generic
// subscribe with acks, ping → pong, routed events by type, user_joined /
// user_left seen by the other member of a solicitud room.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const MODES = {
  default: {},
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'], upgrade: false },
};

async function main() {
  const mode = process.argv[2];
  assert.ok(MODES[mode], `mode must be one of ${Object.keys(MODES)}`);
  const opts = MODES[mode];
  const before = await h.stats();

  const a = await h.sioConnect(h.token({ sub: 'sa1', role: 'ADVISOR' }), 'a', opts);
  const hello = (await a.mb.take((m) => m.event === 'connected', 'connected')).args[0];
  assert.equal(hello.user_id, 'sa1');
  assert.equal(hello.role, 'ADVISOR');
  assert.deepEqual(hello.rooms, ['advisor', 'user_sa1']);
  // the socket id, never the Engine.IO sid
  assert.equal(hello.connection_id, a.socket.id);
  assert.notEqual(hello.connection_id, a.socket.io.engine.id);

  // the transport it started on, and the upgrade
  const started = a.transports[0];
  if (mode === 'websocket') {
    assert.equal(started, 'websocket');
  } else {
    assert.equal(started, 'polling');
  }
  if (mode === 'default')
    await h.waitFor(() => a.upgrades.length > 0, 'upgrade to websocket');

  // acks
  assert.deepEqual(await a.ack('subscribe_solicitud', { solicitud_id: 17 }), { ok: true, room: 'solicitud_17' });
  assert.deepEqual(await a.ack('subscribe', { room: 'solicitud_18' }), { ok: true, room: 'solicitud_18' });
  assert.deepEqual(await a.ack('subscribe', 'solicitud_19'), { ok: true, room: 'solicitud_19' });
  assert.deepEqual(await a.ack('unsubscribe', { room: 'solicitud_19' }), { ok: true, room: 'solicitud_19' });
  const pingAck = await a.ack('ping');
  assert.deepEqual(Object.keys(pingAck).sort(), ['ok', 'timestamp']);
  assert.equal(pingAck.ok, true);
  const pong = await a.mb.take((m) => m.event === 'pong', 'pong');
  assert.ok(!Number.isNaN(Date.parse(pong.args[0].timestamp)));
  assert.deepEqual(Object.keys(pong.args[0]), ['timestamp']);
  // one pong per ping: nothing else arrived with it
  await a.ack('subscribe', { room: 'solicitud_18' });
  assert.equal(a.mb.count((m) => m.event === 'pong'), 1);
  // without an ack id the answers come as events
  a.socket.emit('subscribe', { room: 'solicitud_20' });
  const subscribed = await a.mb.take((m) => m.event === 'subscribed', 'subscribed event');
  assert.deepEqual(subscribed.args, [{ ok: true, room: 'solicitud_20' }]);

  // routed events arrive by their type, the payload as the argument
  let r = await h.publish('ws:room:solicitud_18', { type: 'oferta_nueva', oferta_id: 3 });
  assert.equal(r.delivered, 1);
  const oferta = await a.mb.take((m) => m.event === 'oferta_nueva', 'oferta_nueva');
  assert.deepEqual(oferta.args, [{ type: 'oferta_nueva', oferta_id: 3 }]);
  r = await h.publish('ws:user:sa1', { n: 3 });
  assert.equal(r.delivered, 1);
  assert.deepEqual((await a.mb.take((m) => m.event === 'ws:user:sa1', 'personal')).args, [{ n: 3 }]);
  // advisor and solicitud_17 are both targets: once
  r = await h.publish('solicitud.created', { solicitud_id: 17, estado: 'nueva' });
  assert.equal(r.delivered, 1);
  assert.deepEqual((await a.mb.take((m) => m.event === 'solicitud_created', 'solicitud_created')).args,
    [{ solicitud_id: 17, estado: 'nueva' }]);
  await a.fence();
  assert.equal(a.mb.count((m) => m.event === 'solicitud_created'), 1);

  // the seed's example: a string id, no ack → the event `subscribed`
  a.socket.emit('subscribe_solicitud', { solicitud_id: 'sol-123' });
  assert.deepEqual((await a.mb.take((m) => m.event === 'subscribed', 'subscribed sol-123')).args,
    [{ ok: true, room: 'solicitud_sol-123' }]);
  r = await h.publish('solicitud.updated', { solicitud_id: 'sol-123', estado: 'cerrada' });
  assert.equal(r.delivered, 1);
  assert.deepEqual((await a.mb.take((m) => m.event === 'solicitud_updated', 'solicitud_updated')).args,
    [{ solicitud_id: 'sol-123', estado: 'cerrada' }]);

  // presence in solicitud rooms, seen by a Socket.IO and by a plain member
  const watcher = await h.plainConnect(h.token({ sub: 'pw', role: 'ADMIN' }), 'plain-watcher');
  watcher.send({ type: 'subscribe', room: 'solicitud_17' });
  await watcher.mb.take((m) => m.type === 'subscribed', 'watcher subscribed');
  const b = await h.sioConnect(h.token({ sub: 'sa2', role: 'ADVISOR' }), 'b', opts);
  await b.mb.take((m) => m.event === 'connected', 'b connected');
  const during = await h.stats();
  assert.equal(during.connections_by_protocol.socketio, before.connections_by_protocol.socketio + 2);
  assert.equal(during.top.advisors_connected, 2);
  assert.deepEqual(await b.ack('subscribe_solicitud', { solicitud_id: '17' }), { ok: true, room: 'solicitud_17' });
  const joined = await a.mb.take((m) => m.event === 'user_joined' && m.args[0].user_id === 'sa2', 'user_joined');
  assert.deepEqual(joined.args, [{ user_id: 'sa2', role: 'ADVISOR', room: 'solicitud_17' }]);
  assert.deepEqual(await b.ack('unsubscribe_solicitud', { solicitud_id: 17 }), { ok: true, room: 'solicitud_17' });
  const left = await a.mb.take((m) => m.event === 'user_left' && m.args[0].user_id === 'sa2', 'user_left');
  assert.deepEqual(left.args, [{ user_id: 'sa2', role: 'ADVISOR', room: 'solicitud_17' }]);
  await b.fence();
  assert.equal(b.mb.count((m) => m.event === 'user_joined' || m.event === 'user_left'), 0);
  const wj = await watcher.mb.take((m) => m.type === 'user_joined', 'plain user_joined');
  assert.equal(wj.room, 'solicitud_17');
  assert.deepEqual(wj.payload, { user_id: 'sa2', role: 'ADVISOR', room: 'solicitud_17' });
  const wl = await watcher.mb.take((m) => m.type === 'user_left', 'plain user_left');
  assert.deepEqual(wl.payload, { user_id: 'sa2', role: 'ADVISOR', room: 'solicitud_17' });
  await watcher.close();
  // a saw the plain watcher join too
  assert.deepEqual(a.mb.all.filter((m) => m.event === 'user_joined').map((m) => m.args[0].user_id), ['pw', 'sa2']);

  // the transport at the end
  const final = a.transport();
  if (mode === 'polling') {
    assert.equal(final, 'polling');
    assert.deepEqual(a.upgrades, []);
  } else {
    assert.equal(final, 'websocket');
  }
  const names = [...new Set(a.mb.all.map((m) => m.event))].sort();
  assert.ok(a.socket.connected && b.socket.connected);
  a.socket.disconnect();
  b.socket.disconnect();
  const closed = await h.waitStats((s) => s.connections_by_protocol.socketio === 0 && s.sessions === 0,
    'Socket.IO sessions gone');
  return {
    mode,
    started,
    upgrades: a.upgrades,
    final_transport: final,
    events: names,
    accepted_socketio_websocket: closed.accepted_socketio_websocket_total - before.accepted_socketio_websocket_total,
    closes_client: closed.closes_total.client - before.closes_total.client,
  };
}

h.run(main);
