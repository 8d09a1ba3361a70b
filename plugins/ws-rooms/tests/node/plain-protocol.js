// SPDX-License-Identifier: LGPL-2.1-or-later
// The plain JSON protocol with the `ws` client: token in ?token= and in
// Authorization: Bearer, `connected`, subscribe/unsubscribe replies, events
// routed from POST /api/events on the shipped routes (ws:room:*, ws:user:*,
// solicitud.created → admin;advisor;solicitud_{id} + user {asesor_id}, each
// connection once), verbatim payloads, forbidden subscribe.
'use strict';
const h = require('./lib/herald.js');
const { assert } = h;

async function main() {
  const before = await h.stats();
  const seller = await h.plainConnect(h.token({ sub: 'p1', role: 'SELLER' }), 'seller');
  const advisor = await h.plainConnect(h.token({ sub: 'adv7', role: 'ADVISOR' }), 'advisor', { header: true });
  const admin = await h.plainConnect(h.token({ sub: 'adm1', role: 'ADMIN' }), 'admin', { header: true });
  const advisor2 = await h.plainConnect(h.token({ sub: 'adv8', role: 'ADVISOR' }), 'advisor2');
  const client = await h.plainConnect(h.token({ sub: 'c5', role: 'CLIENT' }), 'client');
  const all = [seller, advisor, admin, advisor2, client];

  // connected: {type, payload:{user_id, role, rooms, connection_id}, timestamp}
  const hello = seller.connected;
  assert.equal(hello.type, 'connected');
  assert.equal(hello.payload.user_id, 'p1');
  assert.equal(hello.payload.role, 'SELLER');
  assert.deepEqual(hello.payload.rooms, ['seller', 'user_p1']);
  assert.equal(typeof hello.payload.connection_id, 'string');
  assert.ok(hello.payload.connection_id.length > 0);
  assert.ok(!Number.isNaN(Date.parse(hello.timestamp)), `timestamp ${hello.timestamp}`);
  assert.deepEqual(advisor.connected.payload.rooms, ['advisor', 'user_adv7']);
  assert.equal(advisor.connected.payload.user_id, 'adv7');
  assert.deepEqual(admin.connected.payload.rooms, ['admin', 'user_adm1']);
  assert.notEqual(advisor.connected.payload.connection_id, hello.payload.connection_id);

  const during = await h.stats();
  assert.equal(during.connections_by_protocol.plain, before.connections_by_protocol.plain + 5);
  assert.equal(during.top.connected_users, 5);
  assert.equal(during.top.admins_connected, 1);
  assert.equal(during.top.advisors_connected, 2);
  assert.equal(during.top.clients_connected, 1);

  // subscribe with its reply
  seller.send({ type: 'subscribe', room: 'orders' });
  const sub = await seller.mb.take((m) => m.type === 'subscribed', 'subscribed orders');
  assert.equal(sub.room, 'orders');
  // arguments may sit in payload too
  advisor.send({ type: 'subscribe', payload: { room: 'solicitud_17' } });
  assert.equal((await advisor.mb.take((m) => m.type === 'subscribed', 'subscribed solicitud_17')).room,
    'solicitud_17');

  // ws:room:<room>: a payload without a string type is wrapped
  let r = await h.publish('ws:room:orders', { order_id: 7 });
  assert.equal(r.delivered, 1);
  const wrapped = await seller.mb.take((m) => m.type === 'ws:room:orders', 'room event');
  assert.equal(wrapped.room, 'orders');
  assert.deepEqual(wrapped.payload, { order_id: 7 });
  assert.ok(!Number.isNaN(Date.parse(wrapped.timestamp)));

  // a payload object with a string type is delivered verbatim
  const verbatimPayload = { type: 'SELLER_STATS_UPDATED', seller_id: '123', metadata: { n: [1, 2] } };
  r = await h.publish('ws:room:orders', verbatimPayload);
  assert.equal(r.delivered, 1);
  const verbatim = await seller.mb.take((m) => m.type === 'SELLER_STATS_UPDATED', 'verbatim event');
  assert.deepEqual(verbatim, verbatimPayload);

  // ws:user:<id>: the personal room
  r = await h.publish('ws:user:p1', { n: 1 });
  assert.equal(r.delivered, 1);
  const personal = await seller.mb.take((m) => m.type === 'ws:user:p1', 'personal event');
  assert.equal(personal.room, 'user_p1');
  assert.deepEqual(personal.payload, { n: 1 });

  // solicitud.created → admin, advisor, solicitud_17 and user_{asesor_id}:
  // admin, both advisors (adv7 is in two target rooms) and p1 (personal), once each
  const sol = { solicitud_id: 17, asesor_id: 'p1', title: 'x' };
  r = await h.publish('solicitud.created', sol);
  assert.equal(r.delivered, 4);
  for (const c of all)
    await c.fence();
  const counts = {};
  for (const c of all) {
    const got = c.mb.all.filter((m) => m.type === 'solicitud_created');
    counts[c.name] = got.length;
    for (const m of got) {
      assert.deepEqual(m.payload, sol);
      assert.ok(['admin', 'advisor', 'solicitud_17', 'user_p1'].includes(m.room), `room ${m.room}`);
    }
  }
  assert.deepEqual(counts, { seller: 1, advisor: 1, admin: 1, advisor2: 1, client: 0 });

  // forbidden subscribe gets an error reply, and nothing changes
  seller.send({ type: 'subscribe', room: 'admin' });
  const forbidden = await seller.mb.take((m) => m.type === 'error', 'forbidden error');
  assert.equal(forbidden.payload.code, 'forbidden');
  assert.equal(forbidden.payload.room, 'admin');
  assert.equal(typeof forbidden.payload.message, 'string');
  client.send({ type: 'subscribe', room: 'orders' });
  assert.equal((await client.mb.take((m) => m.type === 'error', 'client forbidden')).payload.code, 'forbidden');
  r = await h.publish('ws:room:admin', { secret: 1 });
  assert.equal(r.delivered, 1);

  // unsubscribe with its reply; then the room no longer reaches the seller
  seller.send({ type: 'unsubscribe', room: 'orders' });
  const unsub = await seller.mb.take((m) => m.type === 'unsubscribed', 'unsubscribed');
  assert.equal(unsub.room, 'orders');
  r = await h.publish('ws:room:orders', { order_id: 8 });
  assert.equal(r.delivered, 0);
  // the personal room cannot be left
  seller.send({ type: 'unsubscribe', room: 'user_p1' });
  await seller.mb.take((m) => m.type === 'unsubscribed', 'unsubscribed personal');
  r = await h.publish('ws:user:p1', { n: 2 });
  assert.equal(r.delivered, 1);
  await seller.fence();
  assert.equal(seller.mb.count((m) => m.type === 'ws:room:orders'), 1);
  assert.equal(seller.mb.count((m) => m.type === 'ws:user:p1'), 2);
  assert.equal(seller.mb.count((m) => m.payload && m.payload.secret), 0);
  assert.equal(admin.mb.count((m) => m.type === 'ws:room:admin'), 1);

  const after = await h.stats();
  assert.equal(after.subscribes_total - before.subscribes_total, 2);
  assert.equal(after.subscribes_refused_total - before.subscribes_refused_total, 2);
  for (const c of all)
    assert.equal((await c.close()).code, 1000);
  const closed = await h.waitStats((s) => s.connections_by_protocol.plain === 0 && s.sessions === 0,
    'plain connections gone');
  assert.equal(closed.closes_total.client - before.closes_total.client, 5);
  assert.equal(closed.accepted_plain_total - before.accepted_plain_total, 5);
  assert.equal(closed.top.connected_users, 0);
  return {
    connections: all.length,
    solicitud_created: counts,
    messages: Object.fromEntries(all.map((c) => [c.name, c.mb.all.length])),
    closes_client: closed.closes_total.client,
    accepted_plain_total: closed.accepted_plain_total,
  };
}

h.run(main);
