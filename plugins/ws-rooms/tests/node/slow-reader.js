// SPDX-License-Identifier: LGPL-2.1-or-later
// Slow consumers with the defaults that matter (outgoing-buffer-bytes 1 MiB,
// close-timeout-ms 2 s, socket-send-buffer-bytes auto): a plain `ws` client and
// a Socket.IO websocket client pause their socket while the server floods their
// room, then read again at about 200 KB/s (argv[2], bytes per second); both
// must receive the close frame 4008 — the kernel holds too little ahead of it
// for the close to be lost at the close deadline. A plain client that never
// reads again is cut after close-timeout-ms and counted, and a fast client in
// the same room gets every event, in order. A reader that keeps reading gets
// more time for its closing handshake than one that reads nothing.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const RATE = Number(process.argv[2] || 200 * 1024);
const EVENT_BYTES = 32 * 1024;
const MAX_EVENTS = 4000;
const CLOSE_TIMEOUT_MS = Number(process.env.HERALD_CLOSE_TIMEOUT_MS || 2000);

// reads @sock at about @rate bytes per second from now on: pauses whenever
// it is ahead of the budget, resumes when the budget caught up
function throttle(sock, rate) {
  const t0 = Date.now();
  let bytes = 0;
  let timer = null;
  sock.on('data', (chunk) => {
    bytes += chunk.length;
    const due = t0 + (bytes / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0 && timer === null) {
      sock.pause();
      timer = setTimeout(() => { timer = null; sock.resume(); }, wait);
    }
  });
  sock.resume();
  return () => bytes;
}

async function main() {
  const before = await h.stats();
  const fast = await h.plainConnect(h.token({ sub: 'fast', role: 'SELLER' }), 'fast');
  const slow = await h.plainConnect(h.token({ sub: 'slow', role: 'SELLER' }), 'slow');
  const dead = await h.plainConnect(h.token({ sub: 'dead', role: 'SELLER' }), 'dead');
  const sio = await h.sioConnect(h.token({ sub: 'sio-slow', role: 'SELLER' }), 'sio-slow',
    { transports: ['websocket'] });
  let sioDetails = null;
  sio.socket.on('disconnect', (reason, details) => { sioDetails = details; });
  for (const c of [fast, slow, dead]) {
    c.send({ type: 'subscribe', room: 'inventory' });
    await c.mb.take((m) => m.type === 'subscribed', 'subscribed');
  }
  assert.deepEqual(await sio.ack('subscribe', { room: 'inventory' }), { ok: true, room: 'inventory' });
  const sioSock = sio.socket.io.engine.transport.ws._socket;
  for (const s of [slow.ws._socket, dead.ws._socket, sioSock])
    s.pause();

  const blob = 'x'.repeat(EVENT_BYTES);
  let published = 0;
  let cutAt = null;
  const t0 = Date.now();
  // until the three stopped readers are out of the room, plus a few more
  while (published < MAX_EVENTS) {
    const r = await h.publish('ws:room:inventory', { type: 'stock', i: published, blob });
    published++;
    if (r.delivered === 1 && cutAt === null)
      cutAt = published;
    if (cutAt !== null && published >= cutAt + 20)
      break;
  }
  assert.ok(cutAt !== null, `slow consumers not closed after ${published} events of ${EVENT_BYTES} bytes`);
  const closedAt = Date.now();

  // read again, slowly: what the kernel holds, then the close frame
  const slowBytes = throttle(slow.ws._socket, RATE);
  const sioBytes = throttle(sioSock, RATE);
  const closed = await slow.closedPromise;
  await h.waitFor(() => sio.disconnect !== null, 'sio disconnect');
  const slowMs = Date.now() - closedAt;
  assert.equal(closed.code, 4008, `plain slow reader at ${RATE} B/s got ${closed.code}`);
  assert.equal(closed.reason, 'slow consumer');
  // 4008 without `41`: socket.io-client reports a transport close (and would
  // reconnect by itself)
  assert.equal(sio.disconnect.reason, 'transport close');
  assert.equal(sioDetails && sioDetails.context && sioDetails.context.code, 4008,
    `Socket.IO slow reader's close code: ${sioDetails && sioDetails.context && sioDetails.context.code}`);

  // the one that never reads: cut at the close deadline, counted, freed
  const s = await h.waitStats((x) =>
    x.close_timeouts_total - before.close_timeouts_total === 1 && x.sessions === 1,
  'the never-reading client cut', CLOSE_TIMEOUT_MS + 10000);
  assert.equal(s.closes_total.slow_consumer - before.closes_total.slow_consumer, 3);
  assert.equal(s.drops_slow_consumer_total - before.drops_slow_consumer_total, 3);

  const slowGot = slow.mb.count((m) => m.type === 'stock');
  assert.ok(slowGot < published, `slow got ${slowGot} of ${published}`);
  await fast.fence();
  const got = fast.mb.all.filter((m) => m.type === 'stock').map((m) => m.i);
  assert.equal(got.length, published);
  got.forEach((i, k) => assert.equal(i, k));
  assert.equal(fast.closed, null);
  dead.ws.terminate();
  await fast.close();
  await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  return {
    rate: RATE,
    published,
    cut_after: cutAt,
    slow_close_code: closed.code,
    sio_reason: sio.disconnect.reason,
    sio_close_code: sioDetails.context.code,
    slow_read_bytes: slowBytes(),
    sio_read_bytes: sioBytes(),
    slow_close_ms: slowMs,
    fast_received: got.length,
    slow_consumer_closes: s.closes_total.slow_consumer - before.closes_total.slow_consumer,
    close_timeouts: s.close_timeouts_total - before.close_timeouts_total,
    ms: Date.now() - t0,
  };
}

h.run(main);
