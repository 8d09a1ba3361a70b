// SPDX-License-Identifier: LGPL-2.1-or-later
// Soak: churns connections against a running heraldd — plain WebSocket,
// Socket.IO over websocket and over polling (unmodified socket.io-client),
// HTTP keep-alive connections closed by the client between requests — in
// rounds, and reads the daemon's resident memory and open descriptors after
// each round. Round 0 warms up; the others must not grow.
//
// Environment: HERALD_BASE_URL, HERALD_SECRET, HERALD_PID,
// HERALD_TEST_NODE_MODULES, SOAK_CONNECTIONS (after the warm-up, in total),
// SOAK_ROUNDS (default 4), SOAK_CONCURRENCY (default 20).
// Prints one JSON line per round and a last one with the summary.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const BASE = process.env.HERALD_BASE_URL;
const SECRET = process.env.HERALD_SECRET;
const PID = process.env.HERALD_PID;
const MODULES = process.env.HERALD_TEST_NODE_MODULES;
const TOTAL = Number(process.env.SOAK_CONNECTIONS || 4000);
const ROUNDS = Math.max(2, Number(process.env.SOAK_ROUNDS || 4));
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY || 20);
if (!BASE || !SECRET || !PID || !MODULES) {
  console.log(JSON.stringify({ ok: false, error: 'HERALD_BASE_URL, HERALD_SECRET, HERALD_PID and HERALD_TEST_NODE_MODULES are needed' }));
  process.exit(1);
}
const WebSocket = require(path.join(MODULES, 'ws'));
const { io } = require(path.join(MODULES, 'socket.io-client'));
const url = new URL(BASE);

function token(sub) {
  const b64 = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ sub, role: 'CLIENT', exp: Math.floor(Date.now() / 1000) + 3600 });
  const sig = crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what} timed out`)), ms); })])
    .finally(() => clearTimeout(t));
}

// each kind resolves once the connection was used and has been closed
const kinds = {
  plain(i) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${BASE.replace(/^http/, 'ws')}/ws?token=${token('p' + (i % 500))}`);
      ws.once('message', () => ws.close());
      ws.once('close', () => resolve());
      ws.once('error', reject);
    });
  },
  sioWebsocket(i) {
    return new Promise((resolve, reject) => {
      const s = io(BASE, { auth: { token: token('w' + (i % 500)) }, transports: ['websocket'], reconnection: false, forceNew: true });
      s.once('connect', () => { s.disconnect(); resolve(); });
      s.once('connect_error', reject);
    });
  },
  sioPolling(i) {
    return new Promise((resolve, reject) => {
      const s = io(BASE, { auth: { token: token('l' + (i % 500)) }, transports: ['polling'], reconnection: false, forceNew: true });
      s.once('connect', () => { s.disconnect(); resolve(); });
      s.once('connect_error', reject);
    });
  },
  // one request on a kept-alive connection, then the client closes it idle
  httpKeepAlive() {
    return new Promise((resolve, reject) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const req = http.get({ host: url.hostname, port: url.port, path: '/health', agent }, (res) => {
        res.resume();
        res.on('end', () => { agent.destroy(); resolve(); });
      });
      req.on('error', reject);
    });
  },
};
const order = Object.keys(kinds);

function sample() {
  const status = fs.readFileSync(`/proc/${PID}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const fds = fs.readdirSync(`/proc/${PID}/fd`).length;
  return { rss_kb: rss, fds };
}

async function churn(n, offset) {
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = offset + next++;
      await withTimeout(kinds[order[i % order.length]](i), 30000, order[i % order.length]);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

(async () => {
  const perRound = Math.ceil(TOTAL / (ROUNDS - 1));
  const samples = [];
  const started = Date.now();
  for (let r = 0; r < ROUNDS; r++) {
    await churn(perRound, r * perRound);
    // the host's sweep (250 ms) closes what clients left idle; let it run
    await new Promise((res) => setTimeout(res, 1500));
    const s = { round: r, ...sample() };
    samples.push(s);
    console.log(JSON.stringify(s));
  }
  const base = samples[0];
  const last = samples[samples.length - 1];
  console.log(JSON.stringify({
    ok: true,
    connections: perRound * (ROUNDS - 1),
    seconds: (Date.now() - started) / 1000,
    baseline_rss_kb: base.rss_kb,
    final_rss_kb: last.rss_kb,
    baseline_fds: base.fds,
    final_fds: last.fds,
    warmup_fds: samples[0].fds,
  }));
  process.exit(0);
})().catch((err) => {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack || err) }));
  process.exit(1);
});
