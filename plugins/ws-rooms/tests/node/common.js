// SPDX-License-Identifier: LGPL-2.1-or-later
// shared helpers for the ws-rooms node scripts; the official clients come from
// tests/node/node_modules (npm install --prefix tests/node)
'use strict';
const path = require('path');
const modules = process.env.HERALD_TEST_NODE_MODULES ||
  path.join(__dirname, '..', '..', '..', '..', 'tests', 'node', 'node_modules');

function requireClient(name) {
  return require(path.join(modules, name));
}

// the script's arguments as one JSON object (argv[2])
function args() {
  return JSON.parse(process.argv[2]);
}

async function publish(base, serviceToken, channel, payload) {
  const res = await fetch(`${base}/api/events`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${serviceToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, payload }),
  });
  const body = await res.json();
  if (res.status !== 202)
    throw new Error(`publish ${channel}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// resolves when pred() is true, rejects after ms
function waitFor(pred, ms, what) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timeout waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

// the last stdout line is the result the C test asserts on
function finish(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

function fail(err) {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + '\n');
  process.exit(1);
}

setTimeout(() => fail('script timeout'), Number(process.env.HERALD_NODE_TIMEOUT_MS || 60000)).unref();

module.exports = { requireClient, args, publish, sleep, waitFor, finish, fail };
