// SPDX-License-Identifier: LGPL-2.1-or-later
// graceful shutdown: a plain client sees 1001, a Socket.IO client `41`
// ("io server disconnect"); prints "ready" once both are connected
'use strict';
const { requireClient, args, waitFor, finish, fail } = require('./common.js');
const { io } = requireClient('socket.io-client');
const WebSocket = requireClient('ws');

async function main() {
  const a = args();
  const result = {};
  const socket = io(a.base, { auth: { token: a.token }, reconnection: false, transports: ['websocket'] });
  socket.on('disconnect', (reason) => { result.sio_reason = reason; });
  await new Promise((resolve, reject) => { socket.on('connect', resolve); socket.on('connect_error', reject); });
  const plain = new WebSocket(`${a.ws}?token=${a.token}`);
  plain.on('close', (code, reason) => { result.plain_code = code; result.plain_reason = reason.toString(); });
  await new Promise((resolve, reject) => { plain.on('open', resolve); plain.on('error', reject); });
  process.stdout.write('ready\n');
  await waitFor(() => result.sio_reason !== undefined && result.plain_code !== undefined, 20000, 'close');
  finish(result);
}

main().catch(fail);
