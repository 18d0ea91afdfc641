// A person signs in to an MCP client built on the official TypeScript SDK,
// through Keyward: the SDK's Client + StreamableHTTPClientTransport with an
// OAuthClientProvider for the pre-registered public client `mcp-app`. The
// SDK does discovery (RFC 9728 then RFC 8414), PKCE, the code exchange and
// the refresh; this script only plays the person at the hub's pages.
//
//   HUB_ISSUER=... MCP_URL=... node client-user.mjs
//
// With INTEROP_DCR=1 (flow `user-dcr`) there is no pre-registered client:
// the SDK registers one at the hub's registration endpoint (RFC 7591) and
// goes on with the client id it got. With INTEROP_CIMD=1 (flow `user-cimd`)
// the provider has a `clientMetadataUrl` (CIMD_URL): the SDK uses it as the
// client_id, and the hub fetches the document behind it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { randomBytes } from 'node:crypto';
import {
    Steps,
    check,
    env,
    tracingFetch,
    find,
    param,
    UserAgent,
    verifyAccessToken,
    expireAccessToken,
    REAL_EXPIRY,
    checkRegistration,
    checkMetadataClientId
} from './lib.mjs';

const HUB = env('HUB_ISSUER');
const MCP_URL = new URL(env('MCP_URL'));
const CIMD_URL = process.env.INTEROP_CIMD === '1' ? env('CIMD_URL') : undefined;
const DCR = process.env.INTEROP_DCR === '1' || CIMD_URL !== undefined;
// Set from the registration's answer in DCR mode.
let CLIENT_ID = DCR ? undefined : (process.env.USER_CLIENT_ID ?? 'mcp-app');
let registered;
// Any port is accepted for the registered http://127.0.0.1/callback (RFC 8252 §7.3).
const REDIRECT = `http://127.0.0.1:${40000 + Math.floor(Math.random() * 20000)}/callback`;
const PRM_URL = `${MCP_URL.origin}/.well-known/oauth-protected-resource${MCP_URL.pathname}`;

const trace = [];
const steps = new Steps('ts', CIMD_URL ? 'user-cimd' : DCR ? 'user-dcr' : 'user', trace);
const fetchFn = tracingFetch(trace);
const ua = new UserAgent({ username: 'alice', password: 'alice-demo-password', trace });

/** The SDK's OAuthClientProvider for a pre-registered public client, tokens in memory. */
class ScriptedProvider {
    constructor() {
        this.saved = [];
        this.invalidated = [];
    }
    get redirectUrl() {
        return REDIRECT;
    }
    get clientMetadata() {
        return {
            client_name: 'Keyward interop (TypeScript SDK)',
            redirect_uris: [REDIRECT],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none'
        };
    }
    // Pre-registered in the hub's manifests; bound to the hub's issuer. In
    // DCR mode: what the SDK registered, once it has.
    clientInformation() {
        if (DCR) return registered;
        return { client_id: CLIENT_ID, token_endpoint_auth_method: 'none', issuer: HUB };
    }
    get clientMetadataUrl() {
        return CIMD_URL;
    }
    saveClientInformation(info) {
        registered = info;
        CLIENT_ID = info.client_id;
    }
    async state() {
        this.lastState = randomBytes(16).toString('base64url');
        return this.lastState;
    }
    tokens() {
        return this._tokens;
    }
    saveTokens(tokens) {
        this._tokens = tokens;
        this.saved.push(tokens);
    }
    saveCodeVerifier(v) {
        this._verifier = v;
    }
    codeVerifier() {
        return this._verifier;
    }
    // Called by the SDK when the hub rejects what it holds (invalid_grant: 'tokens').
    invalidateCredentials(scope) {
        this.invalidated.push(scope);
        if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
        if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    }
    // "Open the browser": the scripted person signs in and allows.
    async redirectToAuthorization(url) {
        this.authorizationUrl = url;
        try {
            this.result = await ua.authorize(url, REDIRECT);
        } catch (err) {
            this.uaError = err;
        }
    }
}

let provider = new ScriptedProvider();
let transport;
let client;
let hubMeta;
let first;
let refreshed;
let marker = 0;

const newTransport = p => new StreamableHTTPClientTransport(MCP_URL, { authProvider: p, fetch: fetchFn });
const newClient = () => new Client({ name: 'keyward-interop-ts', version: '0.0.0' });
const text = r => r.content?.map(c => c.text).join(' ') ?? JSON.stringify(r);

async function callTool(c) {
    const r = await c.callTool({ name: 'search_docs', arguments: { query: 'refund' } });
    check(!r.isError, `tool error: ${text(r)}`);
    check(text(r).includes(`client_id=${CLIENT_ID}`), `unexpected tool result: ${text(r)}`);
    return text(r);
}

// 1. Unauthenticated: the server says 401 and where its metadata is; the SDK
//    discovers, builds the authorization request and "opens the browser".
await steps.run('unauthenticated-401', async () => {
    transport = newTransport(provider);
    client = newClient();
    let threw;
    try {
        await client.connect(transport);
    } catch (err) {
        threw = err;
    }
    check(threw instanceof UnauthorizedError, `connect should stop at the authorization redirect, got: ${threw ?? 'success'}`);
    const r = find(trace, 'POST', MCP_URL.href)[0];
    check(r?.status === 401, `first POST ${MCP_URL} answered ${r?.status}`);
    const www = r.response_headers['www-authenticate'] ?? '';
    check(www.includes(`resource_metadata="${PRM_URL}"`), `WWW-Authenticate: ${www}`);
    return `WWW-Authenticate: ${www.slice(0, 60)}...`;
});

await steps.run('discovery-prm', async () => {
    const r = find(trace, 'GET', PRM_URL);
    check(r.length && r.at(-1).status === 200, `GET ${PRM_URL}: ${r.at(-1)?.status ?? 'not requested'}`);
    const prm = JSON.parse(r.at(-1).response_body);
    check(prm.authorization_servers?.[0] === HUB, `authorization_servers ${JSON.stringify(prm.authorization_servers)}`);
    return `authorization_servers=${prm.authorization_servers}`;
});

await steps.run('discovery-as-metadata', async () => {
    const asked = trace.filter(e => e.who === 'sdk' && e.method === 'GET' && e.url.startsWith(HUB + '/.well-known/'));
    const ok = asked.find(e => e.status === 200);
    check(ok, `SDK fetched from the hub: ${asked.map(e => `${e.url} ${e.status}`).join(', ') || 'nothing'}`);
    hubMeta = JSON.parse(ok.response_body);
    check(provider.uaError || provider.authorizationUrl, 'the SDK built no authorization request');
    return `${ok.url.replace(HUB, '')}`;
});

if (CIMD_URL) {
    await steps.run('cimd-client-id', async () => checkMetadataClientId(trace, hubMeta, CLIENT_ID, CIMD_URL));
} else if (DCR) {
    await steps.run('dcr-register', async () => checkRegistration(trace, hubMeta, REDIRECT, CLIENT_ID));
}

await steps.run('authorize-request', async () => {
    const u = provider.authorizationUrl;
    check(u, 'redirectToAuthorization was not called');
    check(u.href.split('?')[0] === hubMeta.authorization_endpoint, `endpoint ${u.origin}${u.pathname}`);
    const p = u.searchParams;
    const want = { response_type: 'code', client_id: CLIENT_ID, code_challenge_method: 'S256', redirect_uri: REDIRECT, resource: MCP_URL.href };
    for (const [k, v] of Object.entries(want)) check(p.get(k) === v, `${k}=${p.get(k)}, expected ${v}`);
    check(p.get('code_challenge')?.length === 43, `code_challenge ${p.get('code_challenge')}`);
    check((p.get('scope') ?? '').split(' ').includes('docs:search'), `scope=${p.get('scope')}`);
    return `scope=${p.get('scope')} resource=${p.get('resource')}`;
});

await steps.run('login', async () => {
    if (provider.uaError && !provider.result) throw provider.uaError;
    check(provider.result.pages[0] === 'login', `pages: ${provider.result.pages}`);
    check(ua.cookies.has('keyward-session'), `no keyward-session cookie after login (cookies: ${[...ua.cookies.keys()]})`);
    return 'alice';
});

await steps.run('consent', async () => {
    const { callback, pages } = provider.result;
    check(pages.includes('consent'), `pages: ${pages}`);
    const q = callback.searchParams;
    check(q.get('code'), `callback without code: ${callback}`);
    check(q.get('state') === provider.lastState, `state ${q.get('state')} != ${provider.lastState}`);
    check(q.get('iss') === HUB, `iss=${q.get('iss')} (RFC 9207), expected ${HUB}`);
    return `redirect with code, state, iss`;
});

await steps.run('token-exchange', async () => {
    marker = trace.length;
    await transport.finishAuth(provider.result.callback.searchParams.get('code'));
    const t = provider.tokens();
    check(t?.access_token && t?.refresh_token, `tokens: ${JSON.stringify(t)}`);
    const req = find(trace.slice(marker), 'POST', hubMeta.token_endpoint)[0];
    check(req && param(req.request_body, 'grant_type') === 'authorization_code', 'no authorization_code request');
    check(param(req.request_body, 'code_verifier'), 'no code_verifier sent');
    check(param(req.request_body, 'resource') === MCP_URL.href, `resource=${param(req.request_body, 'resource')}`);
    first = t;
    return `token_type=${t.token_type} expires_in=${t.expires_in} scope=${t.scope}`;
});

await steps.run('access-token', async () => {
    const { header, payload } = await verifyAccessToken(first.access_token, {
        issuer: HUB,
        audience: MCP_URL.href,
        jwksUri: hubMeta.jwks_uri
    });
    check(payload.client_id === CLIENT_ID, `client_id ${payload.client_id}`);
    check((payload.scope ?? '').split(' ').includes('docs:search'), `scope ${payload.scope}`);
    check(payload.sub, 'no sub');
    return `${header.alg} typ=${header.typ} aud=${payload.aud} scope=${payload.scope}`;
});

await steps.run('connect', async () => {
    transport = newTransport(provider);
    client = newClient();
    await client.connect(transport);
    const tools = await client.listTools();
    check(tools.tools.some(t => t.name === 'search_docs'), `tools: ${tools.tools.map(t => t.name)}`);
    return 'initialize + tools/list';
});

await steps.run('call-tool', async () => callTool(client));

// 2. The access token stops working: the SDK gets a 401 and uses the refresh token.
await steps.run('refresh', async () => {
    const how = await expireAccessToken(MCP_URL, provider.tokens().access_token, REAL_EXPIRY);
    const before = provider.tokens();
    marker = trace.length;
    await callTool(client);
    const after = provider.tokens();
    const since = trace.slice(marker);
    check(find(since, 'POST', MCP_URL.href)[0]?.status === 401, 'the server did not reject the old token');
    const req = find(since, 'POST', hubMeta.token_endpoint)[0];
    check(req, 'the SDK made no token request');
    check(param(req.request_body, 'grant_type') === 'refresh_token', `grant_type=${param(req.request_body, 'grant_type')}`);
    check(param(req.request_body, 'refresh_token') === before.refresh_token, 'not the stored refresh token');
    check(req.status === 200, `token endpoint answered ${req.status}: ${req.response_body}`);
    check(after.access_token !== before.access_token, 'no new access token');
    refreshed = { before, after };
    return `${how}; 401 -> grant_type=refresh_token -> retried`;
});

await steps.run('refresh-rotated', async () => {
    const { before, after } = refreshed;
    check(after.refresh_token && after.refresh_token !== before.refresh_token, 'the hub returned no new refresh token');
    const body = JSON.parse(find(trace, 'POST', hubMeta.token_endpoint).at(-1).response_body);
    check(body.refresh_token === after.refresh_token, 'the SDK did not keep the rotated refresh token');
    return 'a new refresh token, kept by the SDK';
});

await steps.run('refresh-again', async () => {
    await expireAccessToken(MCP_URL, provider.tokens().access_token);
    const before = provider.tokens();
    marker = trace.length;
    await callTool(client);
    const req = find(trace.slice(marker), 'POST', hubMeta.token_endpoint)[0];
    check(req?.status === 200, `token endpoint: ${req?.status} ${req?.response_body}`);
    check(param(req.request_body, 'refresh_token') === before.refresh_token, 'not the rotated refresh token');
    check(provider.tokens().refresh_token !== before.refresh_token, 'refresh token not rotated');
    return 'with the rotated refresh token';
});

// 3. The hub refuses the refresh token (here: one it never issued): the SDK
//    must read the hub's answer as invalid_grant, drop its tokens and start a
//    new authorization, which the hub's session makes quick.
await steps.run(
    'refresh-token-rejected',
    async () => {
        provider._tokens = { ...provider.tokens(), refresh_token: `not-issued-${randomBytes(8).toString('hex')}` };
        await expireAccessToken(MCP_URL, provider.tokens().access_token);
        provider.result = undefined;
        marker = trace.length;
        let threw;
        try {
            await callTool(client);
        } catch (err) {
            threw = err;
        }
        const req = find(trace.slice(marker), 'POST', hubMeta.token_endpoint)[0];
        check(req && param(req.request_body, 'grant_type') === 'refresh_token', 'no refresh request');
        let body = {};
        try {
            body = JSON.parse(req.response_body);
        } catch {}
        check(req.status === 400 && body.error === 'invalid_grant', `hub answered ${req.status} ${req.response_body}`);
        check(provider.invalidated.includes('tokens'), `SDK did not read it as InvalidGrantError (invalidated: ${provider.invalidated})`);
        check(threw instanceof UnauthorizedError, `expected a new authorization, got ${threw ?? 'success'}`);
        if (provider.uaError) throw provider.uaError;
        await transport.finishAuth(provider.result.callback.searchParams.get('code'));
        await callTool(client);
        return `hub: 400 invalid_grant -> SDK: InvalidGrantError, new authorization (pages shown: ${provider.result.pages.join(', ') || 'none'})`;
    },
    { required: false }
);

await client?.close().catch(() => {});

// 4. A second sign-in in the same browser: the hub's session and the stored
//    consent should take the person straight back to the client.
await steps.run(
    'reauthorize-with-session',
    async () => {
        provider = new ScriptedProvider();
        transport = newTransport(provider);
        client = newClient();
        try {
            await client.connect(transport);
            throw new Error('connect succeeded without tokens');
        } catch (err) {
            if (!(err instanceof UnauthorizedError)) throw err;
        }
        if (provider.uaError) throw provider.uaError;
        const { callback, pages } = provider.result;
        check(callback.searchParams.get('state') === provider.lastState, 'state mismatch');
        await transport.finishAuth(callback.searchParams.get('code'));
        transport = newTransport(provider);
        client = newClient();
        await client.connect(transport);
        await callTool(client);
        await client.close();
        return `pages shown: ${pages.length ? pages.join(', ') : 'none'}`;
    },
    { required: false }
);

steps.exit();
