// SPDX-License-Identifier: LGPL-2.1-or-later
// `refresh` re-authorizes a connection, with the unmodified `ws` and
// socket.io-client: an ADMIN in `admin` + `user_999` that refreshes with a
// CLIENT token of the same user leaves both rooms, is told so (`left`), and
// gets nothing more from them while it gets `client`; CLIENT → ADMIN (a valid
// token of the same user) joins `admin`; another user's token is refused
// (`forbidden`); a SELLER refreshed to another seller_id gets the claim-filter
// events of the new seller_id only.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

const sorted = (list) => [...list].sort();

async function plainRefresh(c, claims) {
  c.send({ type: 'refresh', token: h.token(claims) });
  return c.mb.take((m) => m.type === 'refreshed' || m.type === 'error', `${c.name} refresh reply`);
}

async function main() {
  const plain = await h.plainConnect(h.token({ sub: 'r1', role: 'ADMIN' }), 'plain-admin');
  const sio = await h.sioConnect(h.token({ sub: 'r2', role: 'ADMIN' }), 'sio-admin');
  plain.send({ type: 'subscribe', room: 'user_999' });
  await plain.mb.take((m) => m.type === 'subscribed' && m.room === 'user_999', 'plain subscribed');
  assert.deepEqual(await sio.ack('subscribe', { room: 'user_999' }), { ok: true, room: 'user_999' });
  assert.equal((await h.publish('ws:room:admin', { type: 'before' })).delivered, 2);
  await plain.mb.take((m) => m.type === 'before', 'plain before');
  await sio.mb.take((m) => m.event === 'before', 'sio before');

  // ADMIN → CLIENT: both rooms left, and the client is told which
  const p1 = await plainRefresh(plain, { sub: 'r1', role: 'CLIENT' });
  assert.equal(p1.type, 'refreshed', JSON.stringify(p1));
  assert.equal(p1.payload.role, 'CLIENT');
  assert.equal(typeof p1.payload.expires, 'number');
  assert.deepEqual(sorted(p1.payload.left), ['admin', 'user_999']);
  assert.deepEqual(sorted(p1.payload.rooms), ['client', 'user_r1']);
  const s1 = await sio.ack('refresh', { token: h.token({ sub: 'r2', role: 'CLIENT' }) });
  assert.equal(s1.ok, true, JSON.stringify(s1));
  assert.equal(s1.role, 'CLIENT');
  assert.deepEqual(sorted(s1.left), ['admin', 'user_999']);
  assert.deepEqual(sorted(s1.rooms), ['client', 'user_r2']);
  const during = await h.waitStats((s) => s.top.admins_connected === 0 && s.top.clients_connected === 2,
    'per-role counters after ADMIN → CLIENT');
  assert.equal(during.connections_by_role.CLIENT, 2);
  assert.equal((await h.publish('ws:room:admin', { type: 'for_admins' })).delivered, 0);
  assert.equal((await h.publish('ws:user:999', { type: 'for_999' })).delivered, 0);
  assert.equal((await h.publish('ws:room:client', { type: 'for_clients' })).delivered, 2);
  await plain.mb.take((m) => m.type === 'for_clients', 'plain for_clients');
  await sio.mb.take((m) => m.event === 'for_clients', 'sio for_clients');
  // CLIENT may not subscribe to admin any more
  const forbidden = await sio.ack('subscribe', { room: 'admin' });
  assert.equal(forbidden.code, 'forbidden');

  // another user's token: refused, the connection stays as it is
  const p2 = await plainRefresh(plain, { sub: 'someone-else', role: 'ADMIN' });
  assert.equal(p2.type, 'error');
  assert.equal(p2.payload.code, 'forbidden');
  const s2 = await sio.ack('refresh', { token: h.token({ sub: 'someone-else', role: 'ADMIN' }) });
  assert.equal(s2.ok, false);
  assert.equal(s2.code, 'forbidden');
  assert.equal((await h.publish('ws:room:admin', { type: 'for_admins' })).delivered, 0);

  // CLIENT → ADMIN with a valid token of the same user: a new identity, joins admin
  const p3 = await plainRefresh(plain, { sub: 'r1', role: 'ADMIN' });
  assert.equal(p3.payload.role, 'ADMIN');
  assert.deepEqual(p3.payload.left, ['client']);
  const s3 = await sio.ack('refresh', { token: h.token({ sub: 'r2', role: 'ADMIN' }) });
  assert.equal(s3.role, 'ADMIN');
  assert.deepEqual(s3.left, ['client']);
  assert.equal((await h.publish('ws:room:admin', { type: 'for_admins_again' })).delivered, 2);
  await plain.mb.take((m) => m.type === 'for_admins_again', 'plain for_admins_again');
  await sio.mb.take((m) => m.event === 'for_admins_again', 'sio for_admins_again');
  await plain.fence();
  await sio.fence();
  assert.equal(plain.mb.count((m) => ['for_admins', 'for_999'].includes(m.type)), 0);
  assert.equal(sio.mb.count((m) => ['for_admins', 'for_999'].includes(m.event)), 0);

  // SELLER: claim filters follow the refreshed seller_id
  const plainSeller = await h.plainConnect(h.token({ sub: 'r3', role: 'SELLER', seller_id: '100' }), 'plain-seller');
  const sioSeller = await h.sioConnect(h.token({ sub: 'r4', role: 'SELLER', seller_id: '100' }), 'sio-seller',
    { transports: ['websocket'] });
  assert.equal((await h.publish('seller.stats', { type: 'SELLER_STATS_UPDATED', seller_id: '100' })).delivered, 2);
  const p4 = await plainRefresh(plainSeller, { sub: 'r3', role: 'SELLER', seller_id: '200' });
  assert.equal(p4.type, 'refreshed');
  assert.deepEqual(p4.payload.left, []);
  const s4 = await sioSeller.ack('refresh', { token: h.token({ sub: 'r4', role: 'SELLER', seller_id: '200' }) });
  assert.equal(s4.ok, true);
  assert.equal((await h.publish('seller.stats', { type: 'SELLER_STATS_UPDATED', seller_id: '100' })).delivered, 0);
  assert.equal((await h.publish('seller.stats', { type: 'SELLER_STATS_UPDATED', seller_id: '200' })).delivered, 2);
  await plainSeller.mb.take((m) => m.type === 'SELLER_STATS_UPDATED' && m.seller_id === '200', 'plain seller 200');
  await sioSeller.mb.take((m) => m.event === 'SELLER_STATS_UPDATED' && m.args[0].seller_id === '200', 'sio seller 200');
  await plainSeller.fence();
  await sioSeller.fence();
  const stats100 = plainSeller.mb.count((m) => m.type === 'SELLER_STATS_UPDATED' && m.seller_id === '100') +
    sioSeller.mb.count((m) => m.event === 'SELLER_STATS_UPDATED' && m.args[0].seller_id === '100');
  // only the one published before the refresh
  assert.equal(stats100, 2);

  await plain.close();
  await plainSeller.close();
  sio.socket.disconnect();
  sioSeller.socket.disconnect();
  await h.waitStats((s) => s.sessions === 0 && s.connections === 0, 'clients gone');
  return {
    left_plain: sorted(p1.payload.left).join(','),
    left_sio: sorted(s1.left).join(','),
    rejoined: p3.payload.role === 'ADMIN' && s3.role === 'ADMIN',
    seller_old_after_refresh: stats100 - 2,
  };
}

h.run(main);
