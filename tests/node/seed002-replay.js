// SPDX-License-Identifier: LGPL-2.1-or-later
// seed 002's REST service as a client of notifier-whatsapp: Node's own fetch
// (undici, keep-alive on by default) posts {userId, type, payload} with an API
// key, as the seed's `axios.post('/api/notifications/send', …)` did, while a
// `ws` client of user 123 reads what arrives. Prints one JSON line
// {statuses:[…], errors:[…], events:[…]}.
// usage: node seed002-replay.js BASE_URL API_KEY USER_TOKEN
'use strict';
const WebSocket = require('ws');

const [base, apiKey, userToken] = process.argv.slice(2);
const timer = setTimeout(() => {
  console.error('timed out');
  process.exit(1);
}, 30000);

const sends = [
  { userId: '123', type: 'order_update', payload: { orderId: '456', status: 'shipped' } },
  { userId: 123, type: 'inventory_alert', payload: { productId: '67890', stockLevel: 5 } },
  { userId: '123', type: 'notification',
    payload: { title: 'Nuevo pedido', message: 'Tienes un nuevo pedido #12345', priority: 'high' } },
];
// each must be refused with this status and error code
const refused = [
  [{ type: 'order_update', payload: { orderId: '456' } }, apiKey, 400, 'invalid_argument'],
  [{ userId: '123', type: 'order update', payload: {} }, apiKey, 400, 'invalid_argument'],
  [{ userId: '123', type: 'x', payload: {}, webhook_url: 'https://example.com' }, apiKey, 400,
    'invalid_argument'],
  [sends[0], 'not-the-key-0123456789abcdefghijklmnopq', 401, 'unauthorized'],
];

async function post(body, key) {
  const res = await fetch(`${base}/api/notifications/send`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': key },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?token=${userToken}`);
const events = [];
let statuses = null;
let errors = null;

function maybeFinish() {
  if (events.length < sends.length || errors === null)
    return;
  clearTimeout(timer);
  console.log(JSON.stringify({ statuses, errors, events }));
  ws.close();
  process.exit(0);
}

ws.on('message', async (data) => {
  const msg = JSON.parse(data.toString());
  if (msg.type === 'connected') {
    const sent = [];
    const refusals = [];
    for (const body of sends)
      sent.push((await post(body, apiKey)).status);
    for (const [body, key, status, code] of refused) {
      const r = await post(body, key);
      refusals.push({ status: r.status, error: r.body.error, message: r.body.message,
        ok: r.status === status && r.body.error === code });
    }
    statuses = sent;
    errors = refusals;
  } else {
    events.push({ type: msg.type, data: msg.payload && msg.payload.data,
      title: msg.payload && msg.payload.title });
  }
  maybeFinish();
});
ws.on('error', (e) => {
  console.error(e.message);
  process.exit(1);
});
