// SPDX-License-Identifier: LGPL-2.1-or-later
// Shared helpers for the ws-rooms node scenarios run by herald-ws-rooms-node-test:
// HS256 tokens minted with node's crypto, the HTTP publish API, /stats, the
// official clients (from tests/node/node_modules) wrapped with a mailbox that
// waits for messages, and the one-line JSON summary the C runner asserts on.
//
// Environment (set by the runner): HERALD_BASE_URL (http://127.0.0.1:PORT),
// HERALD_SECRET (HS256 secret), HERALD_TEST_NODE_MODULES (node_modules dir),
// HERALD_NODE_TIMEOUT_MS (whole-script timeout, default 120000).
'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');

const BASE = process.env.HERALD_BASE_URL;
const SECRET = process.env.HERALD_SECRET;
const MODULES = process.env.HERALD_TEST_NODE_MODULES ||
  path.join(__dirname, '..', '..', '..', '..', '..', 'tests', 'node', 'node_modules');
const WAIT_MS = 30000;

function fail(err) {
  const text = err && err.stack ? err.stack : String(err);
  process.stdout.write(JSON.stringify({ ok: false, error: text }) + '\n');
  process.exit(1);
}
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);
setTimeout(() => fail(new Error('script timeout')),
  Number(process.env.HERALD_NODE_TIMEOUT_MS || 120000)).unref();

if (!BASE || !SECRET)
  fail(new Error('HERALD_BASE_URL and HERALD_SECRET must be set (run through meson test)'));

function requireClient(name) {
  return require(path.join(MODULES, name));
}
const WebSocket = requireClient('ws');
const { io } = requireClient('socket.io-client');

const WS_URL = BASE.replace(/^http/, 'ws') + '/ws';

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

// HS256 JWT; exp = now + expOffsetS unless claims has exp or expOffsetS is null
function token(claims, expOffsetS = 3600) {
  const body = { ...claims };
  if (body.exp === undefined && expOffsetS !== null)
    body.exp = Math.floor(Date.now() / 1000) + expOffsetS;
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(body));
  const sig = crypto.createHmac('sha256', SECRET).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}

const SERVICE_TOKEN = token({ sub: 'svc', role: 'SERVICE' });

// POST /api/events as a service; returns {id, delivered}
async function publish(channel, payload) {
  const res = await fetch(`${BASE}/api/events`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${SERVICE_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, payload }),
  });
  const body = await res.json();
  assert.equal(res.status, 202, `publish ${channel}: HTTP ${res.status} ${JSON.stringify(body)}`);
  assert.equal(typeof body.delivered, 'number');
  return body;
}

// the ws-rooms part of GET /stats, with the seed keys of the top level
async function stats() {
  const res = await fetch(`${BASE}/stats`);
  assert.equal(res.status, 200);
  const body = await res.json();
  const ws = body.plugins && body.plugins['ws-rooms'];
  assert.ok(ws, `no ws-rooms in /stats: ${JSON.stringify(body)}`);
  return { ...ws, top: body };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// polls pred (sync or async) until true; rejects after ms
async function waitFor(pred, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred())
      return;
    if (Date.now() > deadline)
      throw new Error(`timeout waiting for ${what}`);
    await sleep(10);
  }
}

async function waitStats(pred, what, ms = WAIT_MS) {
  let last = null;
  try {
    await waitFor(async () => pred(last = await stats()), what, ms);
  } catch (e) {
    throw new Error(`${e.message}; last /stats: ${JSON.stringify(last)}`);
  }
  return last;
}

// received messages; take() waits for the first one matching pred and removes it
class Mailbox {
  constructor(name) {
    this.name = name;
    this.all = [];
    this.pending = [];
    this.waiters = [];
  }

  push(msg) {
    this.all.push(msg);
    this.pending.push(msg);
    for (const w of [...this.waiters]) {
      const i = this.pending.findIndex(w.pred);
      if (i >= 0) {
        const [m] = this.pending.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  }

  take(pred, what, ms = WAIT_MS) {
    const i = this.pending.findIndex(pred);
    if (i >= 0)
      return Promise.resolve(this.pending.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: timeout waiting for ${what}; got ${JSON.stringify(this.all.slice(-5))}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  count(pred) {
    return this.all.filter(pred).length;
  }
}

// plain protocol: resolves with the client once `connected` arrived
// opts.header: send the token as Authorization: Bearer instead of ?token=
function plainConnect(tok, name, opts = {}) {
  const url = opts.header ? WS_URL : `${WS_URL}?token=${encodeURIComponent(tok)}`;
  const wsOpts = {};
  if (opts.header)
    wsOpts.headers = { Authorization: `Bearer ${tok}` };
  const ws = new WebSocket(url, wsOpts);
  const mb = new Mailbox(name);
  const c = { ws, mb, name, closed: null };
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, `${name}: binary frame from the server`);
    mb.push(JSON.parse(data.toString()));
  });
  c.closedPromise = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      c.closed = { code, reason: reason.toString() };
      resolve(c.closed);
    });
  });
  c.send = (obj) => ws.send(JSON.stringify(obj));
  // a ping answered means everything sent before it has arrived
  c.fence = async () => {
    c.send({ type: 'ping' });
    await mb.take((m) => m.type === 'pong', `${name} pong`);
  };
  c.close = () => { ws.close(); return c.closedPromise; };
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const err = new Error(`${name}: HTTP ${res.statusCode} ${body}`);
        err.statusCode = res.statusCode;
        try { err.body = JSON.parse(body); } catch { err.body = body; }
        reject(err);
      });
    });
    ws.once('error', reject);
    mb.take((m) => m.type === 'connected', `${name} connected`).then((m) => {
      c.connected = m;
      resolve(c);
    }, reject);
  });
}

// the same, expecting a refusal before the upgrade: resolves {statusCode, body}
async function plainRefused(tok, name, opts = {}) {
  try {
    const c = await plainConnect(tok, name, opts);
    c.ws.terminate();
  } catch (err) {
    if (err.statusCode !== undefined)
      return { statusCode: err.statusCode, body: err.body };
    throw err;
  }
  throw new Error(`${name}: connected although it should have been refused`);
}

// socket.io-client v4, unmodified: resolves once `connect` fired
function sioConnect(tok, name, opts = {}) {
  const options = { reconnection: false, forceNew: true, ...opts };
  if (tok !== null && options.auth === undefined)
    options.auth = { token: tok };
  const socket = io(BASE, options);
  const mb = new Mailbox(name);
  const c = { socket, mb, name, transports: [], upgrades: [], disconnect: null };
  socket.onAny((event, ...args) => mb.push({ event, args }));
  socket.io.on('open', () => {
    const engine = socket.io.engine;
    c.transports.push(engine.transport.name);
    engine.on('upgrade', (t) => c.upgrades.push(t.name));
  });
  socket.on('disconnect', (reason) => { c.disconnect = { reason, at: Date.now() }; });
  c.ack = (event, arg) => socket.timeout(WAIT_MS).emitWithAck(event, arg);
  c.fence = async () => {
    const res = await c.ack('ping');
    assert.equal(res.ok, true);
    assert.ok(!Number.isNaN(Date.parse(res.timestamp)), `ping ack ${JSON.stringify(res)}`);
  };
  c.transport = () => socket.io.engine && socket.io.engine.transport.name;
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(c));
    socket.once('connect_error', (err) => {
      err.client = c;
      reject(err);
    });
  });
}

// expects a connect_error; resolves {message, data, client}
async function sioRefused(tok, name, opts = {}) {
  let connected = false;
  try {
    const c = await sioConnect(tok, name, opts);
    connected = true;
    c.socket.disconnect();
  } catch (err) {
    if (connected)
      throw err;
    return { message: err.message, data: err.data === undefined ? null : err.data, client: err.client };
  }
  throw new Error(`${name}: connected although it should have been refused`);
}

function finish(summary) {
  process.stdout.write(JSON.stringify({ ok: true, ...summary }) + '\n');
  process.exit(0);
}

function run(main) {
  main().then(finish, fail);
}

module.exports = {
  assert, BASE, WS_URL, WebSocket, io, token, publish, stats, sleep, waitFor, waitStats,
  Mailbox, plainConnect, plainRefused, sioConnect, sioRefused, finish, fail, run,
};
