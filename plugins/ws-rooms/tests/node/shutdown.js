// SPDX-License-Identifier: LGPL-2.1-or-later
// Graceful shutdown seen by the real clients: the script prints "ready" once
// its clients are connected, the runner sends SIGTERM to heraldd; a plain
// client gets close 1001, Socket.IO clients (websocket, upgraded, polling) get
// `41`, i.e. disconnect "io server disconnect", and do not reconnect. Events
// keep coming to the polling clients until the shutdown, so that some of them
// are between two polls at SIGTERM: their next GET is still served and brings
// the `41`.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

async function main() {
  const plain = await h.plainConnect(h.token({ sub: 's1', role: 'ADMIN' }), 'plain');
  const ws = await h.sioConnect(h.token({ sub: 's2', role: 'ADMIN' }), 'websocket', { transports: ['websocket'] });
  const upgraded = await h.sioConnect(h.token({ sub: 's3', role: 'ADMIN' }), 'default');
  await h.waitFor(() => upgraded.upgrades.length > 0, 'upgrade');
  const polls = [];
  for (let i = 0; i < 3; i++)
    polls.push(await h.sioConnect(h.token({ sub: `s4-${i}`, role: 'SELLER' }), `polling-${i}`, { transports: ['polling'], upgrade: false }));
  const sio = [ws, upgraded, ...polls];
  for (const c of sio)
    await c.fence();
  await plain.fence();
  // until heraldd refuses (503) or is gone
  let published = 0;
  const publisher = (async () => {
    for (;;) {
      try {
        await h.publish('ws:room:seller', { type: 'tick', n: published });
      } catch {
        return;
      }
      published++;
    }
  })();
  await h.waitFor(() => polls.every((c) => c.mb.count((m) => m.event === 'tick') > 0), 'ticks');
  process.stdout.write('ready\n');
  await h.waitFor(() => plain.closed !== null && sio.every((c) => c.disconnect !== null), 'shutdown closes', 30000);
  await publisher;
  const out = { plain: plain.closed.code, published };
  assert.equal(plain.closed.code, 1001);
  for (const c of sio) {
    assert.equal(c.disconnect.reason, 'io server disconnect', c.name);
    assert.equal(c.socket.active, false, c.name);
    out[c.name.replace(/-\d+$/, '')] = c.disconnect.reason;
  }
  return out;
}

h.run(main);
