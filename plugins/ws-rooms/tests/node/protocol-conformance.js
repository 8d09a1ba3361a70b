// SPDX-License-Identifier: LGPL-2.1-or-later
// Protocol conformance with unmodified Node 20 clients (run with
// ping-interval-ms=100):
// - a response after which the server closes says `Connection: close`, so a
//   keep-alive agent (node:http, undici's fetch) never reuses a dead socket:
//   200 sequential polling requests with `Connection: close` interleaved;
// - PUT/DELETE/PATCH on the Engine.IO path: 400 {code:2,"Bad handshake method"};
// - a client `41` over a WebSocket: a close frame (1000), never 1006;
// - server pings on time: intervals measured at the client are reported, and
//   only reported (the runner prints them), never asserted.
'use strict';
const http = require('node:http');
const h = require('./lib/herald.js');
const { assert } = h;

const URL_BASE = new URL(h.BASE);
const SIO_WS = h.BASE.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';

// one request through @agent; resolves {status, headers, body, reused}
function request(agent, path, { method = 'GET', body = null, close = false } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { 'Content-Type': 'text/plain;charset=UTF-8' };
    if (close)
      headers.Connection = 'close';
    if (body !== null)
      headers['Content-Length'] = Buffer.byteLength(body);
    const req = http.request({
      host: URL_BASE.hostname, port: URL_BASE.port, path, method, agent, headers,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString(), reused: req.reusedSocket,
      }));
    });
    req.on('error', reject);
    if (body !== null)
      req.write(body);
    req.end();
  });
}

// Engine.IO v4 polling by hand through a keep-alive agent, every third
// request with `Connection: close`
async function pollingKeepAlive() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const base = '/socket.io/?EIO=4&transport=polling';
  let n = 0;
  let closes = 0;
  let reused = 0;
  const send = async (path, opts = {}) => {
    const close = n % 3 === 2;
    n++;
    const res = await request(agent, path, { ...opts, close });
    assert.equal(res.status, 200, `request ${n}: ${res.status} ${res.body}`);
    if (close) {
      closes++;
      assert.equal(res.headers.connection, 'close', `request ${n}: no Connection: close`);
    } else {
      assert.notEqual(res.headers.connection, 'close', `request ${n}: unexpected close`);
    }
    if (res.reused)
      reused++;
    return res.body;
  };
  const open = await send(`${base}&t=a`);
  assert.ok(open.startsWith('0{'), open);
  const sid = JSON.parse(open.slice(1)).sid;
  const path = `${base}&sid=${encodeURIComponent(sid)}`;
  const tok = h.token({ sub: 'ka', role: 'CLIENT' });
  assert.equal(await send(path, { method: 'POST', body: `40${JSON.stringify({ token: tok })}` }), 'ok');
  let connected = false;
  while (n < 200) {
    const packets = (await send(path)).split('\x1e');
    if (packets.some((p) => p.startsWith('40{')))
      connected = true;
    if (packets.includes('2') && n < 200)
      assert.equal(await send(path, { method: 'POST', body: '3' }), 'ok');
  }
  assert.ok(connected, 'CONNECT answered');
  // the client's close ends the session
  const res = await request(agent, path, { method: 'POST', body: '1' });
  assert.equal(res.status, 200);
  agent.destroy();
  return { requests: n, with_close: closes, reused_sockets: reused };
}

// the same through Node 20's fetch (undici, keep-alive by default)
async function fetchKeepAlive() {
  let closes = 0;
  for (let i = 0; i < 200; i++) {
    const close = i % 3 === 2;
    const res = await fetch(`${h.BASE}/stats`, close ? { headers: { Connection: 'close' } } : {});
    assert.equal(res.status, 200, `fetch ${i}`);
    await res.json();
    if (close) {
      closes++;
      assert.equal(res.headers.get('connection'), 'close', `fetch ${i}: no Connection: close`);
    }
  }
  return { requests: 200, with_close: closes };
}

async function handshakeMethods() {
  const out = {};
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(`${h.BASE}/socket.io/?EIO=4&transport=polling`, { method, body: method === 'DELETE' ? undefined : '40' });
    const body = await res.json();
    assert.equal(res.status, 400, method);
    assert.deepEqual(body, { code: 2, message: 'Bad handshake method' }, method);
    out[method] = res.status;
  }
  return out;
}

// a raw `ws` client speaking Engine.IO / Socket.IO by hand
function rawSio(tok) {
  return new Promise((resolve, reject) => {
    const ws = new h.WebSocket(SIO_WS);
    const mb = new h.Mailbox('raw-sio');
    const c = { ws, mb, close: null };
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === '2')
        ws.send('3');
      mb.push(text);
    });
    ws.on('close', (code, reason) => { c.close = { code, reason: reason.toString() }; });
    ws.on('error', reject);
    ws.on('open', async () => {
      try {
        const open = await mb.take((m) => m.startsWith('0{'), 'open packet');
        c.sid = JSON.parse(open.slice(1)).sid;
        ws.send(`40${JSON.stringify({ token: tok })}`);
        await mb.take((m) => m.startsWith('40{'), 'CONNECT answer');
        resolve(c);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function clientDisconnect() {
  // raw: `41`, then the server's close frame
  const raw = await rawSio(h.token({ sub: 'raw41', role: 'CLIENT' }));
  raw.ws.send('41');
  await h.waitFor(() => raw.close !== null, 'raw close');
  assert.equal(raw.close.code, 1000, `raw close ${JSON.stringify(raw.close)}`);
  // socket.io-client's disconnect(): `41` and its own close frame cross ours
  const c = await h.sioConnect(h.token({ sub: 'sio41', role: 'CLIENT' }), 'sio41', { transports: ['websocket'] });
  let code = null;
  c.socket.io.engine.transport.ws.addEventListener('close', (e) => { code = e.code; });
  c.socket.disconnect();
  await h.waitFor(() => code !== null, 'socket.io-client close');
  assert.ok(code === 1000 || code === 1005, `socket.io-client saw ${code}`);
  return { raw: raw.close.code, client: code };
}

// server pings as socket.io-client sees them (engine `ping` events)
async function heartbeat() {
  const c = await h.sioConnect(h.token({ sub: 'hb', role: 'CLIENT' }), 'hb', { transports: ['websocket'] });
  const times = [];
  c.socket.io.engine.on('ping', () => times.push(performance.now()));
  await h.waitFor(() => times.length >= 31, '31 pings', 20000);
  c.socket.disconnect();
  const late = [];
  for (let i = 1; i < times.length; i++)
    late.push(times[i] - times[i - 1] - 100);
  const round = (x) => Math.round(x * 100) / 100;
  const figures = {
    intervals: late.length,
    min_late_ms: round(Math.min(...late)),
    mean_late_ms: round(late.reduce((a, b) => a + b, 0) / late.length),
    max_late_ms: round(Math.max(...late)),
  };
  console.log(`ping intervals beyond 100 ms: ${JSON.stringify(figures)}`);
  // reported, not asserted (timings belong in benchmarks): every ping came
  // and the session stayed up
  assert.ok(late.length > 0, JSON.stringify(figures));
  return figures;
}

async function main() {
  const before = await h.stats();
  const polling = await pollingKeepAlive();
  const fetched = await fetchKeepAlive();
  const methods = await handshakeMethods();
  const disconnect = await clientDisconnect();
  const beat = await heartbeat();
  await h.waitStats((x) => x.sessions === 0, 'sessions gone');
  const s = await h.stats();
  assert.equal(s.rejected_total.handshake_method - (before.rejected_total.handshake_method || 0), 3);
  return { polling, fetched, methods, disconnect, heartbeat: beat };
}

h.run(main);
