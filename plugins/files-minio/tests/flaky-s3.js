// SPDX-License-Identifier: LGPL-2.1-or-later
// A fake S3 for the retry tests: it does not check signatures; it answers
// 503 SlowDown to the first FAIL requests of each method (PUT and POST), then
// succeeds; GET /__counts returns how many requests of each method it saw.
// usage: node flaky-s3.js PORT FAIL
const http = require('http');
const port = parseInt(process.argv[2], 10);
const fail = parseInt(process.argv[3], 10);
const counts = {};
http.createServer((req, res) => {
  if (req.url === '/__counts') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(counts));
    return;
  }
  counts[req.method] = (counts[req.method] || 0) + 1;
  req.on('data', () => {});
  req.on('end', () => {
    if ((req.method === 'PUT' || req.method === 'POST') && counts[req.method] <= fail) {
      res.writeHead(503, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    if (req.method === 'POST') {
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0"?><InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>');
      return;
    }
    res.writeHead(200, { ETag: '"e"' });
    res.end();
  });
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
