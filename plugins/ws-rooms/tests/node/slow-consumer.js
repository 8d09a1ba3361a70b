// SPDX-License-Identifier: LGPL-2.1-or-later
// A plain client that stops reading (its socket paused) while large events are
// published is closed with 4008 once its outgoing buffer is over
// outgoing-buffer-bytes, and another client in the same room receives every
// event, in order. The test config sets a small outgoing-buffer-bytes and a
// long close-timeout-ms, so that the slow client, reading again, still gets
// the close frame.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const EVENT_BYTES = 32 * 1024;
const MAX_EVENTS = 4000;

async function main() {
  const before = await h.stats();
  const fast = await h.plainConnect(h.token({ sub: 'fast', role: 'SELLER' }), 'fast');
  const slow = await h.plainConnect(h.token({ sub: 'slow', role: 'SELLER' }), 'slow');
  for (const c of [fast, slow]) {
    c.send({ type: 'subscribe', room: 'inventory' });
    await c.mb.take((m) => m.type === 'subscribed', 'subscribed');
  }
  slow.ws._socket.pause();
  const blob = 'x'.repeat(EVENT_BYTES);
  let published = 0;
  let slowClosedAt = null;
  const t0 = Date.now();
  while (published < MAX_EVENTS) {
    const r = await h.publish('ws:room:inventory', { type: 'stock', i: published, blob });
    assert.ok(r.delivered === 1 || r.delivered === 2, `delivered ${r.delivered}`);
    published++;
    if (r.delivered === 1 && slowClosedAt === null)
      slowClosedAt = published;
    // a few more after the close: the fast client keeps receiving
    if (slowClosedAt !== null && published >= slowClosedAt + 20)
      break;
  }
  assert.ok(slowClosedAt !== null, `slow consumer not closed after ${published} events of ${EVENT_BYTES} bytes`);
  const s = await h.waitStats((x) => x.closes_total.slow_consumer - before.closes_total.slow_consumer === 1,
    'slow_consumer close counted');
  // reading again, the slow client drains what the kernel held, then the close frame
  slow.ws._socket.resume();
  const closed = await slow.closedPromise;
  assert.equal(closed.code, 4008);
  const slowGot = slow.mb.count((m) => m.type === 'stock');
  assert.ok(slowGot < published, `slow got ${slowGot} of ${published}`);
  // the fast one got every event, once, in order
  await fast.fence();
  const got = fast.mb.all.filter((m) => m.type === 'stock').map((m) => m.i);
  assert.equal(got.length, published);
  got.forEach((i, k) => assert.equal(i, k));
  assert.equal(fast.closed, null);
  assert.equal(s.drops_slow_consumer_total - before.drops_slow_consumer_total, 1);
  await fast.close();
  await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  return {
    event_bytes: EVENT_BYTES,
    published,
    slow_closed_after: slowClosedAt,
    slow_received: slowGot,
    fast_received: got.length,
    slow_close_code: closed.code,
    ms: Date.now() - t0,
  };
}

h.run(main);
