// SPDX-License-Identifier: LGPL-2.1-or-later
// Limits on connections, with the test config max-connections=4 and
// max-connections-per-user=2: over the per-user limit a plain upgrade gets
// HTTP 503 and a Socket.IO CONNECT `44` "server full"; with the server full the
// next plain upgrade gets HTTP 503 and the next Socket.IO connection (polling
// and websocket handshakes) a connect_error; a freed slot can be used again.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

async function main() {
  const before = await h.stats();
  const limits = { max: 4, perUser: 2 };
  const u1 = h.token({ sub: 'm1', role: 'CLIENT' });
  const a = await h.plainConnect(u1, 'm1a');
  const b = await h.plainConnect(u1, 'm1b');
  const perUserPlain = await h.plainRefused(u1, 'm1c');
  assert.equal(perUserPlain.statusCode, 503);
  assert.equal(perUserPlain.body.error, 'server_full');
  const perUserSio = await h.sioRefused(u1, 'm1-sio', { transports: ['websocket'] });
  assert.equal(perUserSio.message, 'server full');
  assert.equal(perUserSio.data.code, 'server_full');
  assert.equal(perUserSio.client.socket.active, false);
  // the refused session goes away with the client
  await h.waitStats((s) => s.sessions === 2, 'refused session gone');

  const c = await h.plainConnect(h.token({ sub: 'm2', role: 'CLIENT' }), 'm2');
  const d = await h.sioConnect(h.token({ sub: 'm3', role: 'SELLER' }), 'm3', { transports: ['websocket'] });
  const full = await h.stats();
  assert.equal(full.sessions, limits.max);
  assert.equal(full.connections_by_protocol.plain, 3);
  assert.equal(full.connections_by_protocol.socketio, 1);

  const fullPlain = await h.plainRefused(h.token({ sub: 'm4', role: 'CLIENT' }), 'm4');
  assert.equal(fullPlain.statusCode, 503);
  assert.equal(fullPlain.body.error, 'server_full');
  const fullSioPoll = await h.sioRefused(h.token({ sub: 'm5', role: 'CLIENT' }), 'm5-default');
  const fullSioWs = await h.sioRefused(h.token({ sub: 'm6', role: 'CLIENT' }), 'm6-ws', { transports: ['websocket'] });
  for (const r of [fullSioPoll, fullSioWs]) {
    assert.equal(r.client.socket.connected, false);
    assert.equal(r.client.mb.all.length, 0);
  }
  // the handshake itself was refused (HTTP 503): engine.io-client's transport errors
  assert.equal(fullSioPoll.message, 'xhr poll error');
  assert.equal(fullSioWs.message, 'websocket error');

  // everybody admitted still works
  assert.equal((await h.publish('ws:room:client', { type: 'hello' })).delivered, 3);
  await d.fence();
  // a freed slot is usable again
  await c.close();
  await h.waitStats((s) => s.sessions === 3, 'slot freed');
  const e = await h.sioConnect(h.token({ sub: 'm7', role: 'CLIENT' }), 'm7');
  const again = await h.plainRefused(h.token({ sub: 'm8', role: 'CLIENT' }), 'm8');
  assert.equal(again.statusCode, 503);

  const s = await h.stats();
  const fullRejects = (s.rejected_total.server_full || 0) - (before.rejected_total.server_full || 0);
  // per-user plain, per-user CONNECT, full plain, full polling, full websocket, full plain again
  assert.equal(fullRejects, 6);
  for (const x of [a, b])
    await x.close();
  d.socket.disconnect();
  e.socket.disconnect();
  const end = await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  return {
    per_user_plain: perUserPlain.statusCode,
    per_user_sio: perUserSio.message,
    full_plain: fullPlain.statusCode,
    full_sio_default: fullSioPoll.message,
    full_sio_websocket: fullSioWs.message,
    rejected_server_full: fullRejects,
    closes_total: end.closes_total,
  };
}

h.run(main);
