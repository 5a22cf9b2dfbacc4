'use strict';

// A local HTTP server standing in for Zapier's hook endpoint: it records every POST.

const http = require('http');

const startReceiver = () =>
  new Promise((resolve) => {
    const received = [];
    const waiters = [];
    const server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => {
        raw += chunk;
      });
      req.on('end', () => {
        received.push({ path: req.url, headers: req.headers, body: JSON.parse(raw || 'null') });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"status":"success"}');
        waiters.splice(0).forEach((wake) => wake());
      });
    });
    const on = (path) => received.filter((r) => r.path === path);
    // Resolve with the requests for `path` once `count` arrived (reject after timeoutMs).
    const waitFor = (path, count, timeoutMs = 20000) =>
      new Promise((done, fail) => {
        const started = Date.now();
        const check = () => {
          if (on(path).length >= count) {
            done(on(path));
          } else if (Date.now() - started > timeoutMs) {
            fail(new Error(`${on(path).length} of ${count} deliveries to ${path} arrived`));
          } else {
            waiters.push(check);
            setTimeout(check, 100);
          }
        };
        check();
      });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        received,
        on,
        waitFor,
        close: () => new Promise((done) => server.close(done)),
      });
    });
  });

module.exports = { startReceiver };
