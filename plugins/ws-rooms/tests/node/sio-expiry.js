// SPDX-License-Identifier: LGPL-2.1-or-later
// Token expiry: at exp (the test config has [auth] leeway-s=0) a Socket.IO
// client gets `41`, reported as disconnect "io server disconnect" (no
// reconnect), over websocket and over polling; a plain client is closed 4408.
// A client of each protocol that sent `refresh` with a later token stays.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

// long enough for every client to connect (and refresh) first on a loaded machine
const LIFETIME_S = 10;

async function main() {
  const before = await h.stats();
  const exp = Math.floor(Date.now() / 1000) + LIFETIME_S;
  const claims = (sub) => ({ sub, role: 'CLIENT', exp });
  const ws = await h.sioConnect(h.token(claims('e1')), 'websocket', { transports: ['websocket'] });
  const poll = await h.sioConnect(h.token(claims('e2')), 'polling', { transports: ['polling'], upgrade: false });
  const upgraded = await h.sioConnect(h.token(claims('e3')), 'default');
  await h.waitFor(() => upgraded.upgrades.length > 0, 'upgrade');
  const plain = await h.plainConnect(h.token(claims('e4')), 'plain');
  const sio = [ws, poll, upgraded];
  for (const c of sio)
    await c.fence();
  // refresh extends a connection (same user, later exp)
  const later = Math.floor(Date.now() / 1000) + 600;
  const sioKept = await h.sioConnect(h.token(claims('e5')), 'sio-refreshed', { transports: ['websocket'] });
  const kept = await sioKept.ack('refresh', { token: h.token({ sub: 'e5', role: 'CLIENT', exp: later }) });
  assert.equal(kept.ok, true);
  assert.equal(kept.expires, later);
  assert.deepEqual(kept.left, []);
  const other = await sioKept.ack('refresh', { token: h.token({ sub: 'someone-else', role: 'CLIENT', exp: later }) });
  assert.equal(other.ok, false);
  assert.equal(other.code, 'forbidden');
  const plainKept = await h.plainConnect(h.token(claims('e6')), 'plain-refreshed');
  plainKept.send({ type: 'refresh', token: h.token({ sub: 'e6', role: 'CLIENT', exp: later }) });
  const refreshed = await plainKept.mb.take((m) => m.type === 'refreshed', 'refreshed');
  assert.equal(refreshed.payload.expires, later);
  assert.ok(Date.now() < exp * 1000, 'the set-up took longer than the token lifetime');
  await h.waitFor(() => sio.every((c) => c.disconnect !== null) && plain.closed !== null,
    'expiry', (LIFETIME_S + 20) * 1000);
  const result = {};
  for (const c of sio) {
    assert.equal(c.disconnect.reason, 'io server disconnect', c.name);
    // never before exp (whole seconds: allow the rounding of exp)
    assert.ok(c.disconnect.at >= exp * 1000 - 1000, `${c.name} disconnected before exp`);
    assert.equal(c.socket.active, false, `${c.name} must not reconnect`);
    result[c.name] = c.disconnect.reason;
  }
  assert.equal(plain.closed.code, 4408);
  result.plain = plain.closed.code;
  // the refreshed ones outlive exp
  await sioKept.fence();
  await plainKept.fence();
  assert.equal(sioKept.disconnect, null);
  assert.equal(plainKept.closed, null);
  assert.ok(Date.now() >= exp * 1000);
  result.refreshed_alive = 2;
  sioKept.socket.disconnect();
  await plainKept.close();
  const after = await h.waitStats((s) => s.sessions === 0, 'sessions gone');
  assert.equal(after.closes_total.token_expired - before.closes_total.token_expired, 4);
  assert.equal(after.connections_by_protocol.socketio + after.connections_by_protocol.plain, 0);
  return { ...result, closes_token_expired: after.closes_total.token_expired - before.closes_total.token_expired };
}

h.run(main);
