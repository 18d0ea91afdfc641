// Machine-to-machine MCP clients on the official TypeScript SDK against
// Keyward, with the SDK's own providers from client/auth-extensions.js:
//   machine-basic  ClientCredentialsProvider (client_secret_basic)
//   machine-post   the same provider, its client information saying
//                  token_endpoint_auth_method: client_secret_post
//   machine-jwt    PrivateKeyJwtProvider (private_key_jwt, ES256)
//
//   HUB_ISSUER=... MCP_URL=... MACHINE_SECRET=... MACHINE_POST_SECRET=... JWT_CLIENT_KEY=pem node client-machine.mjs
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { InvalidClientError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { Steps, check, env, tracingFetch, find, param, verifyAccessToken, expireAccessToken, REAL_EXPIRY } from './lib.mjs';

const HUB = env('HUB_ISSUER');
const MCP_URL = new URL(env('MCP_URL'));
const PRM_URL = `${MCP_URL.origin}/.well-known/oauth-protected-resource${MCP_URL.pathname}`;

/** ClientCredentialsProvider whose client record asks for client_secret_post. */
class PostClientCredentialsProvider extends ClientCredentialsProvider {
    clientInformation() {
        return { ...super.clientInformation(), token_endpoint_auth_method: 'client_secret_post' };
    }
}

const flows = [
    {
        flow: 'machine-basic',
        clientId: 'mcp-machine',
        provider: (secret = env('MACHINE_SECRET')) => new ClientCredentialsProvider({ clientId: 'mcp-machine', clientSecret: secret, expectedIssuer: HUB }),
        wrong: p => p(randomBytes(32).toString('base64url')),
        auth: req => {
            const h = req.request_headers.authorization ?? '';
            check(h.startsWith('Basic '), `no HTTP Basic authentication (Authorization: ${h || 'none'})`);
            check(!param(req.request_body, 'client_secret'), 'secret also in the body');
            return 'client_secret_basic';
        }
    },
    {
        flow: 'machine-post',
        clientId: 'mcp-machine-post',
        provider: (secret = env('MACHINE_POST_SECRET')) =>
            new PostClientCredentialsProvider({ clientId: 'mcp-machine-post', clientSecret: secret, expectedIssuer: HUB }),
        wrong: p => p(randomBytes(32).toString('base64url')),
        auth: req => {
            check(param(req.request_body, 'client_secret'), 'no client_secret in the body');
            check(!req.request_headers.authorization, 'an Authorization header too');
            return 'client_secret_post';
        }
    },
    {
        flow: 'machine-jwt',
        clientId: 'mcp-machine-jwt',
        provider: (key = readFileSync(env('JWT_CLIENT_KEY'), 'utf8')) =>
            new PrivateKeyJwtProvider({
                clientId: 'mcp-machine-jwt',
                privateKey: key,
                algorithm: 'ES256',
                expectedIssuer: HUB
            }),
        auth: req => {
            const type = param(req.request_body, 'client_assertion_type');
            check(type === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', `client_assertion_type=${type}`);
            const [h, p] = param(req.request_body, 'client_assertion').split('.');
            const header = JSON.parse(Buffer.from(h, 'base64url'));
            const claims = JSON.parse(Buffer.from(p, 'base64url'));
            return `private_key_jwt, assertion header ${JSON.stringify(header)} aud=${claims.aud}`;
        },
        // Signed with a key the hub does not know.
        wrong: p => p(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
    }
];

let failed = 0;
for (const f of flows) {
    const trace = [];
    const steps = new Steps('ts', f.flow, trace);
    const provider = f.provider();
    const client = new Client({ name: 'keyward-interop-ts-machine', version: '0.0.0' });
    const transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: tracingFetch(trace) });
    let hubMeta;
    let tokenRequest;

    await steps.run('connect', async () => {
        await client.connect(transport);
        check(find(trace, 'POST', MCP_URL.href)[0]?.status === 401, 'the first request was not answered 401');
        return '401 -> discovery -> token -> initialize';
    });

    await steps.run('discovery', async () => {
        check(find(trace, 'GET', PRM_URL).some(e => e.status === 200), `no protected-resource metadata from ${PRM_URL}`);
        const ok = trace.find(e => e.method === 'GET' && e.url.startsWith(HUB + '/.well-known/') && e.status === 200);
        check(ok, 'no authorization-server metadata from the hub');
        hubMeta = JSON.parse(ok.response_body);
        return `${PRM_URL.replace(MCP_URL.origin, '')} then hub ${ok.url.replace(HUB, '')}`;
    });

    await steps.run('token', async () => {
        tokenRequest = find(trace, 'POST', hubMeta.token_endpoint)[0];
        check(tokenRequest, 'no token request');
        check(param(tokenRequest.request_body, 'grant_type') === 'client_credentials', 'not client_credentials');
        check(tokenRequest.status === 200, `HTTP ${tokenRequest.status}: ${tokenRequest.response_body}`);
        check(param(tokenRequest.request_body, 'resource') === MCP_URL.href, `resource=${param(tokenRequest.request_body, 'resource')}`);
        return f.auth(tokenRequest);
    });

    await steps.run('access-token', async () => {
        const { header, payload } = await verifyAccessToken(provider.tokens().access_token, {
            issuer: HUB,
            audience: MCP_URL.href,
            jwksUri: hubMeta.jwks_uri
        });
        check(payload.client_id === f.clientId, `client_id ${payload.client_id}`);
        check((payload.scope ?? '').split(' ').includes('docs:search'), `scope ${payload.scope}`);
        return `${header.alg} typ=${header.typ} aud=${payload.aud} sub=${payload.sub} scope=${payload.scope}`;
    });

    await steps.run('call-tool', async () => {
        const r = await client.callTool({ name: 'search_docs', arguments: { query: 'invoices' } });
        const text = r.content?.map(c => c.text).join(' ');
        check(!r.isError && text.includes(`client_id=${f.clientId}`), `result: ${text}`);
        return text;
    });

    await steps.run('renew-after-expiry', async () => {
        // With --real-expiry the first flow waits out its token's exp; the others use the hook.
        const how = await expireAccessToken(MCP_URL, provider.tokens().access_token, REAL_EXPIRY && f === flows[0]);
        const mark = trace.length;
        const before = provider.tokens().access_token;
        const r = await client.callTool({ name: 'search_docs', arguments: { query: 'invoices' } });
        check(!r.isError, 'tool error');
        const req = find(trace.slice(mark), 'POST', hubMeta.token_endpoint)[0];
        check(req?.status === 200 && param(req.request_body, 'grant_type') === 'client_credentials', 'no new client_credentials grant');
        check(provider.tokens().access_token !== before, 'same token');
        return `${how}; 401 -> a new client_credentials token -> retried`;
    });

    await client.close().catch(() => {});

    // Wrong credentials: the hub's answer must read as invalid_client to the SDK.
    await steps.run(
        'rejected-credentials',
        async () => {
            const bad = f.wrong(f.provider);
            const t = [];
            const c = new Client({ name: 'keyward-interop-ts-machine', version: '0.0.0' });
            let threw;
            try {
                await c.connect(new StreamableHTTPClientTransport(MCP_URL, { authProvider: bad, fetch: tracingFetch(t) }));
            } catch (err) {
                threw = err;
            }
            await c.close().catch(() => {});
            const req = find(t, 'POST', hubMeta.token_endpoint)[0];
            check(req, 'no token request');
            let body = {};
            try {
                body = JSON.parse(req.response_body);
            } catch {}
            check(req.status === 401 && body.error === 'invalid_client', `hub answered ${req.status} ${req.response_body}`);
            check(threw instanceof InvalidClientError, `SDK raised ${threw?.constructor?.name}: ${threw?.message}`);
            const www = req.response_headers['www-authenticate'];
            return `hub: 401 invalid_client${www ? ` (WWW-Authenticate: ${www})` : ''} -> SDK: InvalidClientError`;
        },
        { required: false }
    );
    failed += steps.failed;
}
process.exitCode = failed ? 1 : 0;
