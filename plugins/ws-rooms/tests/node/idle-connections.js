// SPDX-License-Identifier: LGPL-2.1-or-later
// opens N idle plain connections (distinct users) and keeps them until stdin
// closes; prints "ready <n>" when all are connected. Not part of the test
// suite: used to measure heraldd's RSS per idle connection.
//   node idle-connections.js '{"ws":"ws://127.0.0.1:8003/ws","secret":"…","clients":10000}'
'use strict';
const crypto = require('crypto');
const { requireClient, args, fail } = require('./common.js');
const WebSocket = requireClient('ws');

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function sign(secret, claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

async function main() {
  const a = args();
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const sockets = [];
  let open = 0, failed = 0;
  const batch = a.batch || 200;
  for (let i = 0; i < a.clients; i += batch) {
    const wave = [];
    for (let j = i; j < Math.min(i + batch, a.clients); j++) {
      const token = sign(a.secret, { sub: `idle${j}`, role: 'CLIENT', exp });
      const ws = new WebSocket(`${a.ws}?token=${token}`, { perMessageDeflate: false });
      sockets.push(ws);
      wave.push(new Promise((resolve) => {
        ws.once('message', () => { open++; resolve(); });
        ws.once('error', () => { failed++; resolve(); });
      }));
    }
    await Promise.all(wave);
  }
  process.stdout.write(`ready ${open} failed ${failed}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => { sockets.forEach((ws) => ws.terminate()); process.exit(0); });
}

process.removeAllListeners('uncaughtException');
main().catch(fail);
