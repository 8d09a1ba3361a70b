// SPDX-License-Identifier: LGPL-2.1-or-later
// allowed-origins (test config: https://app.example.com only): a plain upgrade
// from another Origin gets 403, a Socket.IO handshake from another Origin is
// refused (connect_error) on polling, websocket and default options, the
// allowed Origin connects on all of them and gets CORS headers on polling;
// a handshake without CONNECT ends after connect-timeout-ms (short in the test).
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const GOOD = 'https://app.example.com';
const BAD = 'https://evil.example.com';

function plainWithOrigin(tok, origin) {
  return new Promise((resolve, reject) => {
    const ws = new h.WebSocket(`${h.WS_URL}?token=${tok}`, { origin });
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      ws.close();
      resolve(m.type);
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
    });
    ws.on('error', reject);
  });
}

async function main() {
  const before = await h.stats();
  const tok = h.token({ sub: 'o1', role: 'SELLER' });
  const out = {};
  assert.equal(await plainWithOrigin(tok, GOOD), 'connected');
  const bad = await plainWithOrigin(tok, BAD);
  assert.equal(bad.status, 403);
  assert.equal(bad.body.error, 'forbidden');
  out.plain_bad = bad.status;
  for (const [mode, opts] of [['polling', { transports: ['polling'], upgrade: false }],
    ['websocket', { transports: ['websocket'] }], ['default', {}]]) {
    const c = await h.sioConnect(tok, `good-${mode}`, { ...opts, extraHeaders: { Origin: GOOD } });
    if (mode === 'default')
      await h.waitFor(() => c.upgrades.length > 0, 'upgrade');
    await c.fence();
    c.socket.disconnect();
    const r = await h.sioRefused(tok, `bad-${mode}`, { ...opts, extraHeaders: { Origin: BAD } });
    assert.equal(r.client.socket.connected, false);
    out[`sio_bad_${mode}`] = r.message;
  }
  // CORS on the polling handshake: the allowed Origin is echoed, another is not
  let res = await fetch(`${h.BASE}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: GOOD } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), GOOD);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  await res.text();
  res = await fetch(`${h.BASE}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: BAD } });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  assert.deepEqual(await res.json(), { code: 3, message: 'Bad request' });
  // the fetched handshakes never send CONNECT: closed after connect-timeout-ms (test config)
  const after = await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  assert.equal(after.closes_total.timeout - before.closes_total.timeout, 1);
  // plain, three Socket.IO handshakes, the fetch
  assert.equal((after.rejected_total.origin || 0) - (before.rejected_total.origin || 0), 5);
  out.rejected_origin = after.rejected_total.origin;
  return out;
}

h.run(main);
