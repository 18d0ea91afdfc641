// Client ID Metadata Documents for the interop run, over HTTPS with a CA made
// for the run (run.sh; the hub trusts it through --metadata-document-ca).
// One document per SDK: /clients/<sdk>.json, each naming its own URL as
// client_id, public, with the loopback redirect the scripts use (any port).
//
//   DOCS_PORT=... DOCS_CERT=... DOCS_KEY=... node documents.mjs
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';

const port = Number(process.env.DOCS_PORT);
const base = `https://127.0.0.1:${port}`;
const names = { ts: 'TypeScript SDK', ts2: 'TypeScript SDK v2', py: 'Python SDK' };

const server = createServer({ cert: readFileSync(process.env.DOCS_CERT), key: readFileSync(process.env.DOCS_KEY) }, (req, res) => {
    const m = /^\/clients\/(ts|ts2|py)\.json$/.exec(req.url ?? '');
    if (!m) {
        res.writeHead(404).end();
        return;
    }
    const doc = {
        client_id: `${base}${req.url}`,
        client_name: `Keyward interop (${names[m[1]]}, metadata document)`,
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none'
    };
    console.log(`GET ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify(doc));
});
server.listen(port, '127.0.0.1', () => console.log(`documents at ${base}/clients/`));
