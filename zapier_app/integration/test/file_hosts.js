'use strict';

// Local stand-ins for the two hosts a hydrator talks to: Pi's image host, and Zapier's file
// storage (the RPC that hands out a presigned upload, and the bucket that takes the upload).

const http = require('http');

// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

const listen = (handler) =>
  new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(done)),
      });
    });
  });

const readBody = (req) =>
  new Promise((resolve) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });

// Serves GET /images/<name>.png; records every request's headers. Like a presigned CDN URL it
// refuses a request that carries credentials (Authorization or Cookie) with a 400.
const startImageHost = async () => {
  const requests = [];
  const host = await listen((req, res) => {
    requests.push({ method: req.method, path: req.url, headers: req.headers });
    if (req.headers.authorization || req.headers.cookie) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('credentials are not accepted here');
    } else if (req.method === 'GET' && /^\/images\/[^/]+\.png$/.test(req.url)) {
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': PNG.length });
      res.end(PNG);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no such image');
    }
  });
  return { ...host, requests };
};

// Answers the RPC get_presigned_upload_post_data with a bucket on this server, and keeps
// what z.stashFile() uploads there (204, as S3 answers a presigned POST).
const startFileStore = async () => {
  const uploads = [];
  const rpcCalls = [];
  const store = await listen(async (req, res) => {
    const body = await readBody(req);
    if (req.method === 'POST' && req.url === '/platform/rpc/cli') {
      const call = JSON.parse(body.toString('utf8'));
      rpcCalls.push({ call, headers: req.headers });
      const key = `stash/${uploads.length + rpcCalls.length}`;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          id: call.id,
          result: { url: `${store.url}/bucket/`, fields: { key, policy: 'test' } },
        }),
      );
    } else if (req.method === 'POST' && req.url === '/bucket/') {
      uploads.push({ headers: req.headers, body });
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return { ...store, uploads, rpcCalls };
};

module.exports = { PNG, startImageHost, startFileStore };
