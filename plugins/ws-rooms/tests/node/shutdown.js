// SPDX-License-Identifier: LGPL-2.1-or-later
// A graceful restart seen by the real clients: the script prints "ready" once
// its clients are connected; the runner sends SIGTERM to heraldd, waits for
// its exit and starts a new heraldd on the same port. Socket.IO clients with
// their default reconnection (websocket only, started on polling and
// upgraded, polling only) see the transport close — no `41`, so one
// `disconnect` "transport close", never "io server disconnect" — and come back
// by themselves exactly once; the plain `ws` client gets 1012 "service
// restart" and reconnects as the seed's clients do. Events keep coming to the
// polling clients until the shutdown, so that some of them are between two
// polls at SIGTERM: their next GET is still served and brings the `1`.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

// reconnects like a seed client: again after a short pause until it works
async function plainReconnect(tok, name) {
  for (;;) {
    try {
      return await h.plainConnect(tok, name);
    } catch {
      await h.sleep(200);
    }
  }
}

async function sioClient(tok, name, opts = {}) {
  const c = await h.sioConnect(tok, name, { reconnection: true, ...opts });
  c.connects = 1;
  c.disconnects = [];
  c.reconnects = 0;
  c.socket.on('connect', () => { c.connects++; });
  c.socket.on('disconnect', (reason) => c.disconnects.push(reason));
  c.socket.io.on('reconnect', () => { c.reconnects++; });
  return c;
}

async function main() {
  const plainTok = h.token({ sub: 's1', role: 'ADMIN' });
  const plain = await h.plainConnect(plainTok, 'plain');
  const ws = await sioClient(h.token({ sub: 's2', role: 'ADMIN' }), 'websocket', { transports: ['websocket'] });
  const upgraded = await sioClient(h.token({ sub: 's3', role: 'ADMIN' }), 'default');
  await h.waitFor(() => upgraded.upgrades.length > 0, 'upgrade');
  const polls = [];
  for (let i = 0; i < 3; i++)
    polls.push(await sioClient(h.token({ sub: `s4-${i}`, role: 'SELLER' }), `polling-${i}`, { transports: ['polling'], upgrade: false }));
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
  const closed = await plain.closedPromise;
  await publisher;
  // the new heraldd: every Socket.IO client back on its own, the plain one
  // reconnected by us
  const again = await plainReconnect(plainTok, 'plain-again');
  await h.waitFor(() => sio.every((c) => c.connects === 2), 'Socket.IO clients reconnected', 60000);
  for (const c of sio)
    await c.fence();
  await again.fence();
  // nothing more comes late: a second disconnect or reconnect would be a bug
  await h.sleep(500);
  const out = { plain: closed.code, plain_reason: closed.reason, published };
  assert.equal(closed.code, 1012);
  assert.equal(closed.reason, 'service restart');
  for (const c of sio) {
    assert.deepEqual(c.disconnects, ['transport close'], c.name);
    assert.equal(c.connects, 2, c.name);
    assert.equal(c.reconnects, 1, c.name);
    assert.equal(c.socket.connected, true, c.name);
    out[c.name.replace(/-\d+$/, '')] = c.disconnects.join(',');
  }
  out.reconnected = sio.length + 1;
  out.final_default_transport = upgraded.transport();
  for (const c of sio)
    c.socket.disconnect();
  await again.close();
  await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  return out;
}

h.run(main);
