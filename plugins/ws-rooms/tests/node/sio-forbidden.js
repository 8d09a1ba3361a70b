// SPDX-License-Identifier: LGPL-2.1-or-later
// A subscribe the role may not make gets ack {ok:false, code:'forbidden'} over
// Socket.IO (generic subscribe and subscribe_solicitud), a bad room name
// invalid_argument; nothing is joined.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

async function main() {
  const before = await h.stats();
  const seller = await h.sioConnect(h.token({ sub: 'f1', role: 'SELLER' }), 'seller', { transports: ['websocket'] });
  const client = await h.sioConnect(h.token({ sub: 'f2', role: 'CLIENT' }), 'client');
  const acks = {};
  for (const [c, event, arg] of [
    [seller, 'subscribe', { room: 'admin' }],
    [seller, 'subscribe', { room: 'user_f2' }],
    [seller, 'subscribe_solicitud', { solicitud_id: 5 }],
    [client, 'subscribe', { room: 'orders' }],
  ]) {
    const ack = await c.ack(event, arg);
    assert.equal(ack.ok, false, JSON.stringify(ack));
    assert.equal(ack.code, 'forbidden', JSON.stringify(ack));
    assert.equal(typeof ack.error, 'string');
    acks[`${c.name}:${event}:${JSON.stringify(arg)}`] = ack;
  }
  assert.equal(acks['seller:subscribe:{"room":"admin"}'].room, 'admin');
  assert.equal(acks['seller:subscribe_solicitud:{"solicitud_id":5}'].room, 'solicitud_5');
  const bad = await seller.ack('subscribe', { room: 'bad room' });
  assert.equal(bad.ok, false);
  assert.equal(bad.code, 'invalid_argument');
  const missing = await seller.ack('subscribe', {});
  assert.equal(missing.ok, false);
  assert.equal(missing.code, 'invalid_argument');
  // without an ack the refusal comes as an `error` event
  seller.socket.emit('subscribe', { room: 'admin' });
  const err = await seller.mb.take((m) => m.event === 'error', 'error event');
  assert.equal(err.args[0].code, 'forbidden');
  // an allowed one still works
  assert.deepEqual(await seller.ack('subscribe', { room: 'orders' }), { ok: true, room: 'orders' });
  // nothing forbidden was joined
  assert.equal((await h.publish('ws:room:admin', { x: 1 })).delivered, 0);
  assert.equal((await h.publish('ws:room:solicitud_5', { x: 1 })).delivered, 0);
  assert.equal((await h.publish('ws:room:orders', { x: 1 })).delivered, 1);
  await seller.fence();
  const s = await h.stats();
  const refused = s.subscribes_refused_total - before.subscribes_refused_total;
  // the 5 forbidden ones and the 2 bad names
  assert.equal(refused, 7);
  assert.equal(seller.socket.connected && client.socket.connected, true);
  seller.socket.disconnect();
  client.socket.disconnect();
  await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  return { refused_acks: Object.keys(acks).length + 2, subscribes_refused: refused };
}

h.run(main);
