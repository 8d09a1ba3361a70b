// SPDX-License-Identifier: LGPL-2.1-or-later
// Socket.IO under traffic, in the three transport set-ups: events published
// without pause while the client connects (and, with default options, while
// it upgrades from polling to websocket) all arrive, once and in order, with
// non-ASCII text intact; with a short ping-interval-ms (test config) the
// session survives many server pings on every transport.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const MODES = {
  default: {},
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'], upgrade: false },
};
const TEXT = 'ñandú 😀 \u2028 "q" \\ \u0001 end';
const PINGS = 8;

async function main() {
  const out = {};
  for (const [mode, opts] of Object.entries(MODES)) {
    let stop = false;
    let published = 0;
    const publisher = (async () => {
      while (!stop) {
        await h.publish('ws:room:seller', { type: 'busy', k: published, text: TEXT });
        published++;
      }
    })();
    const c = await h.sioConnect(h.token({ sub: `b-${mode}`, role: 'SELLER' }), mode, opts);
    let pings = 0;
    c.socket.io.engine.on('ping', () => { pings++; });
    if (mode === 'default')
      await h.waitFor(() => c.upgrades.length > 0, 'upgrade');
    // keep publishing for a while after the upgrade
    const seen = c.mb.count((m) => m.event === 'busy');
    await h.waitFor(() => c.mb.count((m) => m.event === 'busy') >= seen + 50, 'events after connect');
    stop = true;
    await publisher;
    await c.fence();
    const got = c.mb.all.filter((m) => m.event === 'busy').map((m) => m.args[0]);
    assert.ok(got.length >= 50);
    for (const g of got)
      assert.equal(g.text, TEXT);
    const ks = got.map((g) => g.k);
    // from the first one it got, nothing lost, nothing twice, in order
    ks.forEach((k, i) => assert.equal(k, ks[0] + i, `${mode}: ${ks.slice(Math.max(0, i - 2), i + 2)}`));
    assert.equal(ks[ks.length - 1], published - 1);
    // heartbeats: the server pings, the client answers, the session stays
    await h.waitFor(() => pings >= PINGS, `${PINGS} pings`);
    assert.equal(c.socket.connected, true);
    assert.equal(c.disconnect, null);
    await c.fence();
    out[mode] = { received: ks.length, published, pings, transport: c.transport() };
    c.socket.disconnect();
  }
  const s = await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  assert.equal(s.closes_total.timeout, 0);
  return out;
}

h.run(main);
