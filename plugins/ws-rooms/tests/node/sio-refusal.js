// SPDX-License-Identifier: LGPL-2.1-or-later
// Refusals: a bad, an expired and a missing token get `44` over Socket.IO
// (connect_error "unauthorized" with data.code, no connection, no retry) with
// default options and with websocket only, and HTTP 401 before the upgrade on
// the plain protocol; each is counted in /stats rejected_total.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const CASES = [
  { name: 'bad', token: () => 'not.a.jwt', code: 'invalid_token', plain: 'unauthorized' },
  { name: 'bad-signature', token: () => h.token({ sub: 'r1', role: 'ADMIN' }).slice(0, -4) + 'AAAA', code: 'invalid_token', plain: 'unauthorized' },
  { name: 'expired', token: () => h.token({ sub: 'r2', role: 'ADMIN' }, -120), code: 'token_expired', plain: 'token_expired' },
  { name: 'missing', token: () => null, code: 'missing_token', plain: 'unauthorized' },
];

async function main() {
  const before = await h.stats();
  const seen = [];
  for (const transports of [undefined, ['websocket']]) {
    for (const c of CASES) {
      const opts = transports ? { transports } : {};
      const label = `${c.name}/${transports ? 'websocket' : 'default'}`;
      const res = await h.sioRefused(c.token(), label, opts);
      assert.equal(res.message, 'unauthorized', label);
      assert.equal(res.data.code, c.code, label);
      assert.equal(typeof res.data.reason, 'string');
      assert.equal(res.client.socket.connected, false, label);
      // `44` destroys the socket: socket.io-client does not retry on its own
      assert.equal(res.client.socket.active, false, label);
      assert.equal(res.client.mb.all.length, 0, `${label}: got events ${JSON.stringify(res.client.mb.all)}`);
      seen.push({ case: label, code: res.data.code });
    }
  }
  // plain protocol: refused before the upgrade
  const plain = {};
  for (const c of CASES) {
    const tok = c.token();
    const res = tok === null ? await refusedNoToken() : await h.plainRefused(tok, `plain-${c.name}`);
    assert.equal(res.statusCode, 401, c.name);
    assert.equal(res.body.error, c.plain, `${c.name}: ${JSON.stringify(res.body)}`);
    assert.equal(typeof res.body.message, 'string');
    plain[c.name] = res.statusCode;
  }
  const after = await h.waitStats((s) => s.sessions === 0, 'refused sessions gone');
  const delta = (k) => (after.rejected_total[k] || 0) - (before.rejected_total[k] || 0);
  // 2 Socket.IO set-ups + plain each
  assert.equal(delta('invalid_token'), 2 * 2 + 2);
  assert.equal(delta('token_expired'), 2 + 1);
  assert.equal(delta('missing_token'), 2 + 1);
  assert.equal(after.connections_by_protocol.socketio, 0);
  assert.equal(after.connections_by_protocol.plain, 0);
  assert.equal(after.top.connected_users, 0);

  // a valid token still works after all that
  const good = await h.sioConnect(h.token({ sub: 'r3', role: 'ADMIN' }), 'good');
  await good.fence();
  good.socket.disconnect();
  await h.waitStats((s) => s.sessions === 0, 'good session gone');
  return { refused: seen, plain, rejected_total: after.rejected_total };
}

// no ?token= and no Authorization header at all
async function refusedNoToken() {
  return new Promise((resolve, reject) => {
    const ws = new h.WebSocket(h.WS_URL);
    ws.on('open', () => reject(new Error('connected without a token')));
    ws.on('error', () => {});
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ statusCode: res.statusCode, body: JSON.parse(body) }));
    });
  });
}

h.run(main);
