// SPDX-License-Identifier: LGPL-2.1-or-later
// socket.io-client v4, unmodified: connect with auth, subscribe with acks,
// receive a routed event, ping/pong, unsubscribe, disconnect
'use strict';
const { requireClient, args, publish, waitFor, finish, fail } = require('./common.js');
const { io } = requireClient('socket.io-client');

async function main() {
  const a = args();
  const opts = { auth: { token: a.token }, reconnection: false };
  if (a.websocket) opts.transports = ['websocket'];
  const socket = io(a.base, opts);
  const events = [];
  const result = { transports: [] };
  socket.onAny((name, ...rest) => events.push({ name, args: rest }));
  socket.io.on('open', () => {
    result.transports.push(socket.io.engine.transport.name);
    socket.io.engine.on('upgrade', (t) => result.transports.push(t.name));
  });
  await new Promise((resolve, reject) => {
    socket.on('connect', resolve);
    socket.on('connect_error', reject);
  });
  result.id = socket.id;
  await waitFor(() => events.some((e) => e.name === 'connected'), 5000, 'connected');
  result.connected = events.find((e) => e.name === 'connected').args[0];
  result.ack_subscribe = await socket.timeout(5000).emitWithAck('subscribe_solicitud', { solicitud_id: 17 });
  result.ack_forbidden = await socket.timeout(5000).emitWithAck('subscribe', { room: 'admin' });
  result.ack_bad_room = await socket.timeout(5000).emitWithAck('subscribe', { room: 'bad room' });
  result.ack_unknown = await socket.timeout(5000).emitWithAck('no_such_event', {});
  result.ack_ping = await socket.timeout(5000).emitWithAck('ping');
  await waitFor(() => events.some((e) => e.name === 'pong'), 5000, 'pong');
  result.published = await publish(a.base, a.service, 'solicitud.created', { solicitud_id: 17, n: 1 });
  await waitFor(() => events.some((e) => e.name === 'solicitud_created'), 5000, 'solicitud_created');
  result.event = events.find((e) => e.name === 'solicitud_created').args[0];
  result.ack_unsubscribe = await socket.timeout(5000).emitWithAck('unsubscribe_solicitud', { solicitud_id: 17 });
  // after unsubscribing only the role room (advisor) still matches
  result.published_after = await publish(a.base, a.service, 'ws:room:solicitud_17', { n: 2 });
  await socket.timeout(5000).emitWithAck('ping');
  result.events_after = events.filter((e) => e.name === 'ws:room:solicitud_17').length;
  if (a.wait_upgrade && !a.websocket)
    await waitFor(() => socket.io.engine.transport.name === 'websocket', 10000, 'upgrade');
  result.final_transport = socket.io.engine.transport.name;
  result.names = events.map((e) => e.name);
  socket.disconnect();
  finish(result);
}

main().catch(fail);
