// SPDX-License-Identifier: LGPL-2.1-or-later
// user_joined / user_left reach the other members of a solicitud room, and a
// plain client and a Socket.IO client in one room each get a routed event once
'use strict';
const { requireClient, args, publish, waitFor, finish, fail } = require('./common.js');
const { io } = requireClient('socket.io-client');
const WebSocket = requireClient('ws');

function connect(base, token) {
  const socket = io(base, { auth: { token }, reconnection: false, transports: ['websocket'] });
  socket.events = [];
  socket.onAny((name, ...rest) => socket.events.push({ name, args: rest }));
  return new Promise((resolve, reject) => {
    socket.on('connect', () => resolve(socket));
    socket.on('connect_error', reject);
  });
}

async function main() {
  const a = args();
  const first = await connect(a.base, a.token_a);
  const second = await connect(a.base, a.token_b);
  const plain = new WebSocket(`${a.ws}?token=${a.token_c}`);
  const plainMsgs = [];
  plain.on('message', (d) => plainMsgs.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => { plain.on('open', resolve); plain.on('error', reject); });
  plain.send(JSON.stringify({ type: 'subscribe', room: 'solicitud_5' }));
  await waitFor(() => plainMsgs.some((m) => m.type === 'subscribed'), 5000, 'plain subscribed');
  await first.timeout(5000).emitWithAck('subscribe_solicitud', { solicitud_id: 5 });
  await second.timeout(5000).emitWithAck('subscribe_solicitud', { solicitud_id: '5' });
  await waitFor(() => first.events.some((e) => e.name === 'user_joined'), 5000, 'user_joined');
  const result = {};
  result.joined = first.events.find((e) => e.name === 'user_joined').args[0];
  result.second_saw_own_join = second.events.some((e) => e.name === 'user_joined');
  await second.timeout(5000).emitWithAck('unsubscribe_solicitud', { solicitud_id: 5 });
  await waitFor(() => first.events.some((e) => e.name === 'user_left'), 5000, 'user_left');
  result.left = first.events.find((e) => e.name === 'user_left').args[0];
  result.plain_presence = plainMsgs.filter((m) => m.type === 'user_joined' || m.type === 'user_left').map((m) => m.type);
  // the solicitud route targets admin;advisor;solicitud_{id}: every advisor is in
  // two of those rooms and still gets the event once
  result.published = await publish(a.base, a.service, 'solicitud.updated', { solicitud_id: 5, v: 1 });
  await waitFor(() => plainMsgs.some((m) => m.type === 'solicitud_updated'), 5000, 'plain event');
  await waitFor(() => second.events.some((e) => e.name === 'solicitud_updated'), 5000, 'second event');
  await first.timeout(5000).emitWithAck('ping');
  await second.timeout(5000).emitWithAck('ping');
  plain.send(JSON.stringify({ type: 'ping' }));
  await waitFor(() => plainMsgs.some((m) => m.type === 'pong'), 5000, 'plain pong');
  result.first_count = first.events.filter((e) => e.name === 'solicitud_updated').length;
  result.second_count = second.events.filter((e) => e.name === 'solicitud_updated').length;
  result.plain_count = plainMsgs.filter((m) => m.type === 'solicitud_updated').length;
  result.plain_event = plainMsgs.find((m) => m.type === 'solicitud_updated');
  first.disconnect();
  second.disconnect();
  plain.close();
  finish(result);
}

main().catch(fail);
