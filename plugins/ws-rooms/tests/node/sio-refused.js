// SPDX-License-Identifier: LGPL-2.1-or-later
// a refused CONNECT (`44`) reaches the application as connect_error
'use strict';
const { requireClient, args, finish, fail } = require('./common.js');
const { io } = requireClient('socket.io-client');

async function main() {
  const a = args();
  const opts = { reconnection: false };
  if (a.token !== null) opts.auth = { token: a.token };
  if (a.websocket) opts.transports = ['websocket'];
  const socket = io(a.base, opts);
  const err = await new Promise((resolve, reject) => {
    socket.on('connect', () => reject(new Error('connected with a bad token')));
    socket.on('connect_error', resolve);
  });
  finish({ message: err.message, data: err.data || null, active: socket.active });
}

main().catch(fail);
