// SPDX-License-Identifier: LGPL-2.1-or-later
// Inbound limits with the real clients (defaults: rate-limit 20/s, burst 40,
// max-message-bytes 65536, max-payload 1e6): a flood closes a plain client with
// 4429 and a Socket.IO client with `41` first ("io server disconnect", no
// reconnect) on websocket and on polling; an oversize message closes a plain
// client with 1009 and a Socket.IO websocket (no `41`: it may reconnect); an
// oversize polling POST gets 413 (the session ends with the client's `1` or at
// its ping timeout).
// Each close is counted by reason.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const BURST = 40;

async function main() {
  const before = await h.stats();
  const out = {};

  // plain flood: the burst is answered, then 4429
  const flood = await h.plainConnect(h.token({ sub: 'l1', role: 'SELLER' }), 'plain-flood');
  for (let i = 0; i < 5 * BURST; i++)
    flood.send({ type: 'ping' });
  const floodClose = await flood.closedPromise;
  assert.equal(floodClose.code, 4429);
  const pongs = flood.mb.count((m) => m.type === 'pong');
  assert.ok(pongs >= BURST && pongs < 5 * BURST, `pongs ${pongs}`);
  out.plain_flood = { code: floodClose.code, pongs };

  // plain oversize: 1009 after reassembly
  const big = await h.plainConnect(h.token({ sub: 'l2', role: 'SELLER' }), 'plain-big');
  big.send({ type: 'subscribe', room: 'x'.repeat(70000) });
  out.plain_oversize = (await big.closedPromise).code;
  assert.equal(out.plain_oversize, 1009);
  // a fragmented one too (ws sends fragments with fin: false)
  const frag = await h.plainConnect(h.token({ sub: 'l3', role: 'SELLER' }), 'plain-fragments');
  const part = 'y'.repeat(30000);
  frag.ws.send(`{"type":"subscribe","room":"${part}`, { fin: false });
  frag.ws.send(part, { fin: false });
  frag.ws.send(`${part}"}`, { fin: true });
  out.plain_oversize_fragmented = (await frag.closedPromise).code;
  assert.equal(out.plain_oversize_fragmented, 1009);

  // Socket.IO floods: `41`, so "io server disconnect"
  for (const [mode, opts] of [['websocket', { transports: ['websocket'] }],
    ['polling', { transports: ['polling'], upgrade: false }]]) {
    const c = await h.sioConnect(h.token({ sub: `l-${mode}`, role: 'SELLER' }), `sio-flood-${mode}`, opts);
    // over polling the client sends what it buffered in one POST: more than
    // max-packets-per-payload (100) would be refused as a bad request (400,
    // "transport error") before the rate limit is looked at
    const n = mode === 'polling' ? 2 * BURST : 5 * BURST;
    for (let i = 0; i < n; i++)
      c.socket.emit('ping');
    await h.waitFor(() => c.disconnect !== null, `${mode} disconnect`);
    assert.equal(c.disconnect.reason, 'io server disconnect', mode);
    assert.equal(c.socket.active, false);
    out[`sio_flood_${mode}`] = c.disconnect.reason;
  }

  // Socket.IO oversize: over websocket 1009 (transport close, no `41`)
  const sbig = await h.sioConnect(h.token({ sub: 'l4', role: 'SELLER' }), 'sio-big', { transports: ['websocket'] });
  sbig.socket.emit('subscribe', { room: 'z'.repeat(70000) });
  await h.waitFor(() => sbig.disconnect !== null, 'sio big disconnect');
  assert.equal(sbig.disconnect.reason, 'transport close');
  out.sio_oversize_websocket = sbig.disconnect.reason;
  // over polling: the POST over max-payload is refused (413); the client gives
  // up, and the session ends (its `1`, or its ping timeout: short in the test config)
  const pbig = await h.sioConnect(h.token({ sub: 'l5', role: 'SELLER' }), 'sio-big-poll', { transports: ['polling'], upgrade: false });
  pbig.socket.emit('subscribe', { room: 'z'.repeat(1100000) });
  await h.waitFor(() => pbig.disconnect !== null, 'sio big polling disconnect');
  assert.equal(pbig.disconnect.reason, 'transport error');
  out.sio_oversize_polling = pbig.disconnect.reason;
  pbig.socket.disconnect();

  const after = await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  const d = (k) => after.closes_total[k] - before.closes_total[k];
  assert.equal(d('rate_limited'), 3);
  assert.equal(d('too_big'), 3);
  // the client may still say `1` on its way out, else the ping timeout ends it
  assert.ok(d('timeout') <= 1);
  out.closes = { rate_limited: d('rate_limited'), too_big: d('too_big'), timeout: d('timeout') };
  return out;
}

h.run(main);
