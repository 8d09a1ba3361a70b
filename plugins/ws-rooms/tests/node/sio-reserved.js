// SPDX-License-Identifier: LGPL-2.1-or-later
// Events whose type is a name socket.io-client reserves (connect, disconnect…)
// never reach Socket.IO clients as those events (counted in
// drops_reserved_name_total); plain clients still get them as messages.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const RESERVED = ['connect', 'disconnect', 'connect_error', 'disconnecting', 'newListener', 'removeListener'];

async function main() {
  const before = await h.stats();
  const plain = await h.plainConnect(h.token({ sub: 'rp', role: 'SELLER' }), 'plain');
  const sioWs = await h.sioConnect(h.token({ sub: 'rw', role: 'SELLER' }), 'sio-ws', { transports: ['websocket'] });
  const sioPoll = await h.sioConnect(h.token({ sub: 'rl', role: 'SELLER' }), 'sio-poll', { transports: ['polling'], upgrade: false });
  const sio = [sioWs, sioPoll];
  const reservedSeen = [];
  for (const c of sio) {
    // application handlers of the reserved names: none may fire with our payloads
    for (const name of ['connect', 'disconnect', 'connect_error'])
      c.socket.on(name, (...args) => reservedSeen.push({ client: c.name, name, args }));
    assert.deepEqual(await c.ack('subscribe', { room: 'orders' }), { ok: true, room: 'orders' });
  }
  plain.send({ type: 'subscribe', room: 'orders' });
  await plain.mb.take((m) => m.type === 'subscribed', 'subscribed');

  const delivered = {};
  for (const [i, name] of RESERVED.entries()) {
    const r = await h.publish('ws:room:orders', { type: name, i });
    delivered[name] = r.delivered;
    // only the plain client counts as reached
    assert.equal(r.delivered, 1, name);
  }
  // and the event name from the channel when the payload has no type: not reserved
  const r = await h.publish('ws:room:orders', { type: 'after', i: 99 });
  assert.equal(r.delivered, 3);
  for (const c of sio) {
    const after = await c.mb.take((m) => m.event === 'after', `${c.name} after`);
    assert.deepEqual(after.args, [{ type: 'after', i: 99 }]);
    await c.fence();
    assert.equal(c.socket.connected, true, `${c.name} still connected`);
    assert.deepEqual(c.mb.all.filter((m) => RESERVED.includes(m.event)), []);
  }
  await plain.fence();
  const plainGot = plain.mb.all.filter((m) => RESERVED.includes(m.type));
  assert.deepEqual(plainGot, RESERVED.map((type, i) => ({ type, i })));
  assert.deepEqual(reservedSeen, []);
  const s = await h.stats();
  const drops = s.drops_reserved_name_total - before.drops_reserved_name_total;
  // one per Socket.IO recipient and event
  assert.equal(drops, RESERVED.length * sio.length);
  for (const c of sio)
    c.socket.disconnect();
  await plain.close();
  await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  return { delivered, drops_reserved_name: drops, plain_received: plainGot.length };
}

h.run(main);
