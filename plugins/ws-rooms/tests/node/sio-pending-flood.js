// SPDX-License-Identifier: LGPL-2.1-or-later
// A flood of tokenless Engine.IO handshakes (2,000, with the test config
// max-pending=100) never locks real clients out: each new handshake evicts the
// oldest session that has not sent a CONNECT yet, so the official client,
// which sends its CONNECT right after its handshake, gets through and
// receives events. /stats shows at most 100 pending sessions and the
// evictions; /health shows the pending count. The flood's sessions end at
// connect-timeout-ms.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const FLOOD = 2000;

async function handshake() {
  const res = await fetch(`${h.BASE}/socket.io/?EIO=4&transport=polling&t=${Math.random()}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.ok(text.startsWith('0{'), text);
  return JSON.parse(text.slice(1)).sid;
}

async function main() {
  const sids = [];
  // a few at a time, as a flooding client would
  for (let i = 0; i < FLOOD; i += 20) {
    const batch = [];
    for (let j = 0; j < 20; j++)
      batch.push(handshake());
    sids.push(...await Promise.all(batch));
  }
  const flooded = await h.stats();
  assert.ok(flooded.pending_sessions <= 100, `pending_sessions ${flooded.pending_sessions}`);
  assert.ok(flooded.pending_evicted_total >= FLOOD - 100,
    `pending_evicted_total ${flooded.pending_evicted_total}`);
  const health = await (await fetch(`${h.BASE}/health`)).json();
  assert.equal(health.pending, flooded.pending_sessions);

  // the first sessions were evicted: "Session ID unknown"
  const res = await fetch(`${h.BASE}/socket.io/?EIO=4&transport=polling&sid=${sids[0]}`);
  assert.equal(res.status, 400);
  assert.equal((await res.json()).code, 1);

  // a real client (default options: polling, then upgrade) gets through
  const c = await h.sioConnect(h.token({ sub: 'flood1', role: 'ADMIN' }), 'real');
  const connected = await c.mb.take((m) => m.event === 'connected', 'connected');
  assert.equal(connected.args[0].user_id, 'flood1');
  await h.publish('ws:user:flood1', { type: 'after_flood', n: 1 });
  const got = await c.mb.take((m) => m.event === 'after_flood', 'event after the flood');
  assert.equal(got.args[0].n, 1);
  const during = await h.stats();
  assert.equal(during.connections_by_protocol.socketio, 1);
  c.socket.disconnect();
  // the flood's leftovers go at connect-timeout-ms
  const after = await h.waitStats((s) => s.sessions === 0 && s.pending_sessions === 0,
    'flood sessions gone');
  return {
    flood: FLOOD,
    pending_after_flood: flooded.pending_sessions,
    evicted: after.pending_evicted_total,
    health_pending: health.pending,
  };
}

h.run(main);
