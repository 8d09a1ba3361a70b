// SPDX-License-Identifier: LGPL-2.1-or-later
// redis-bridge end to end with the official socket.io-client v4: an ADMIN and a
// CLIENT connection; the C test PUBLISHes to Redis after "ready" and a final
// "barrier" event; prints one JSON line {admin:{marker:event},client:{…},counts}
// usage: node redis-sio.js BASE_URL ADMIN_TOKEN CLIENT_TOKEN
'use strict';
const { io } = require('socket.io-client');

const [base, adminToken, clientToken] = process.argv.slice(2);
const timer = setTimeout(() => {
  console.error('timed out');
  process.exit(1);
}, 30000);

function connect(token, transports) {
  const opts = { auth: { token }, reconnection: false };
  if (transports) opts.transports = transports;
  const socket = io(base, opts);
  const seen = { markers: {}, count: 0, barrier: false };
  socket.onAny((name, data) => {
    if (!data || typeof data !== 'object' || typeof data.m !== 'string') return;
    seen.count++;
    seen.markers[data.m] = name;
    if (name === 'barrier') seen.barrier = true;
  });
  return new Promise((resolve, reject) => {
    socket.on('connect', () => resolve({ socket, seen }));
    socket.on('connect_error', reject);
  });
}

async function main() {
  // default transports (polling, then upgrade) and websocket only
  const admin = await connect(adminToken, null);
  const client = await connect(clientToken, ['websocket']);
  const ack = await client.socket.timeout(5000).emitWithAck('subscribe', { room: 'notifications' });
  if (!ack || ack.ok !== true) throw new Error('subscribe refused: ' + JSON.stringify(ack));
  console.log('ready');
  await new Promise((resolve) => {
    const poll = setInterval(() => {
      if (admin.seen.barrier && client.seen.barrier) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  console.log(JSON.stringify({
    admin: admin.seen.markers,
    client: client.seen.markers,
    counts: { admin: admin.seen.count, client: client.seen.count },
  }));
  admin.socket.disconnect();
  client.socket.disconnect();
  clearTimeout(timer);
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
