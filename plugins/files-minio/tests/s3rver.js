// SPDX-License-Identifier: LGPL-2.1-or-later
// @20minutes/s3rver 5 (it verifies SigV4 signatures) on 127.0.0.1:<port>, objects in
// <dir>; credentials S3RVER / S3RVER. usage: node s3rver.js PORT DIR
const path = require('path');
// Debian 12's nodejs is 18; @koa/router 15 (s3rver 5's only allowed version)
// calls Array.prototype.toReversed, which came with node 20
if (!Array.prototype.toReversed) {
  Object.defineProperty(Array.prototype, 'toReversed', {
    value: function toReversed() { return this.slice().reverse(); },
    writable: true, configurable: true,
  });
}
const S3rver = require(path.join(process.env.HERALD_TEST_NODE_DIR, 'node_modules', '@20minutes', 's3rver'));
const port = parseInt(process.argv[2], 10);
const directory = process.argv[3];
new S3rver({ address: '127.0.0.1', port, directory, silent: true }).run().then(
  () => console.log(`s3rver listening on ${port}`),
  (err) => { console.error(err); process.exit(1); });
process.on('SIGTERM', () => process.exit(0));
