// The client's redirect URI: a tiny loopback HTTP server that records every
// request it gets (one JSON line each, in $CB_LOG) and answers a small HTML
// page, so a browser's landing can be seen both here and in page.url().
import fs from 'node:fs';
import http from 'node:http';

const port = Number(process.env.CB_PORT);
const log = process.env.CB_LOG;
if (!port || !log) {
  console.error('callback.mjs: set CB_PORT and CB_LOG');
  process.exit(2);
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

http
  .createServer((req, res) => {
    const entry = { t: new Date().toISOString(), method: req.method, url: req.url, headers: req.headers };
    fs.appendFileSync(log, JSON.stringify(entry) + '\n');
    const u = new URL(req.url, `http://127.0.0.1:${port}`);
    if (u.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (u.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const q = Object.fromEntries(u.searchParams);
    const what = q.code ? 'a code' : q.error ? `error ${q.error}` : 'neither a code nor an error';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Callback received</title></head>
<body><h1>Callback received</h1><p id="result">The app got ${esc(what)}.</p>
<p id="js">no script ran</p><script>document.getElementById('js').textContent = 'script ran';</script>
<pre id="query">${esc(JSON.stringify(q, null, 2))}</pre></body></html>
`);
  })
  .listen(port, '127.0.0.1', () => console.log(`callback server on http://127.0.0.1:${port}/callback`));
