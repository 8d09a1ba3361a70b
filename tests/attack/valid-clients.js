// SPDX-License-Identifier: LGPL-2.1-or-later
// A well-behaved user during an attack (run by herald-attack-test while its
// flooding thread is busy): the unmodified socket.io-client v4 with default
// options (polling, then the upgrade) and `auth: {token}`, and a plain `ws`
// client, each receiving an event published with POST /api/events.
//
// Environment: HERALD_BASE_URL, HERALD_SECRET, HERALD_TEST_NODE_MODULES (see
// plugins/ws-rooms/tests/node/lib/herald.js, whose helpers this reuses) and
// HERALD_ATTACK_NODE_LIB (the path of that file).
'use strict';
const path = require('node:path');
const h = require(process.env.HERALD_ATTACK_NODE_LIB ||
  path.join(__dirname, '..', '..', 'plugins', 'ws-rooms', 'tests', 'node', 'lib', 'herald.js'));
const { assert } = h;

// a real client retries a failed connect (its session may have been evicted
// by the flood before its CONNECT arrived); bounded
const ATTEMPTS = 10;

async function sioWithRetry(tok, name) {
  let last = null;
  for (let i = 1; i <= ATTEMPTS; i++) {
    try {
      const c = await h.sioConnect(tok, name);
      return { c, attempts: i };
    } catch (err) {
      last = err;
      if (err.client && err.client.socket)
        err.client.socket.disconnect();
      await h.sleep(100);
    }
  }
  throw new Error(`${name}: no connection after ${ATTEMPTS} attempts: ${last && last.message}`);
}

async function main() {
  const tag = process.argv[2] || 'attack';

  const { c: sio, attempts } = await sioWithRetry(h.token({ sub: 'valid-sio', role: 'ADVISOR' }), 'sio');
  const hello = (await sio.mb.take((m) => m.event === 'connected', 'sio connected')).args[0];
  assert.equal(hello.user_id, 'valid-sio');
  let r = await h.publish('ws:user:valid-sio', { type: 'during_' + tag, n: 1 });
  assert.equal(r.delivered, 1);
  const ev = await sio.mb.take((m) => m.event === 'during_' + tag, 'sio event');
  assert.deepEqual(ev.args, [{ type: 'during_' + tag, n: 1 }]);

  const plain = await h.plainConnect(h.token({ sub: 'valid-plain', role: 'CLIENT' }), 'plain');
  assert.equal(plain.connected.payload.user_id, 'valid-plain');
  r = await h.publish('ws:user:valid-plain', { type: 'during_' + tag, n: 2 });
  assert.equal(r.delivered, 1);
  const pev = await plain.mb.take((m) => m.type === 'during_' + tag, 'plain event');
  assert.equal(pev.n, 2);

  const transport = sio.transport();
  sio.socket.disconnect();
  await plain.close();
  return { sio_attempts: attempts, sio_transport: transport, sio_event: true, plain_event: true };
}

h.run(main);
