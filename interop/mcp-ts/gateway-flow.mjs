// The `gateway` flow, shared by the TypeScript SDK v1 (client-gateway.mjs)
// and v2 (../mcp-ts-v2/client-gateway.mjs) scripts, which bring their SDK:
// an MCP server with no OAuth of its own behind `keyward gateway`. The
// gateway's 401 sends the SDK to the hub, the SDK registers itself (RFC 7591)
// or names its metadata document (CIMD_URL, flow `gateway-cimd`), a person
// signs in, and a tool whose scope the first token lacks gets 403
// insufficient_scope from the gateway; the SDK steps up, either at once or,
// when it first tries a refresh (which cannot widen a grant), once it holds
// no refresh token. The server sees the caller in X-Keyward-* headers and
// never the token.
//
//   HUB_ISSUER=... GATEWAY_URL=... UPSTREAM_URL=... [CIMD_URL=...]
import { randomBytes } from 'node:crypto';
import { Steps, check, env, tracingFetch, find, UserAgent, claims, checkMetadataClientId } from './lib.mjs';

/**
 * `sdk`: the label in the report (`ts`, `ts2`); the SDK's `Client`,
 * `StreamableHTTPClientTransport` and `UnauthorizedError`; `finishAuth(transport,
 * callbackQuery)`: how this SDK version takes the callback.
 */
export async function runGatewayFlow({ sdk, Client, StreamableHTTPClientTransport, UnauthorizedError, finishAuth }) {
    const HUB = env('HUB_ISSUER');
    const GATEWAY = new URL(env('GATEWAY_URL'));
    const UPSTREAM = new URL(env('UPSTREAM_URL'));
    const REDIRECT = `http://127.0.0.1:${40000 + Math.floor(Math.random() * 20000)}/callback`;
    const PRM_URL = `${GATEWAY.origin}/.well-known/oauth-protected-resource${GATEWAY.pathname}`;

    const trace = [];
    const CIMD_URL = process.env.CIMD_URL;
    const steps = new Steps(sdk, CIMD_URL ? 'gateway-cimd' : 'gateway', trace);
    const fetchFn = tracingFetch(trace);
    const ua = new UserAgent({ username: 'alice', password: 'alice-demo-password', trace });

    class Provider {
        constructor() {
            this.authorizations = [];
        }
        get redirectUrl() {
            return REDIRECT;
        }
        get clientMetadata() {
            return {
                client_name: `Keyward interop (${sdk}, through the gateway)`,
                redirect_uris: [REDIRECT],
                grant_types: ['authorization_code', 'refresh_token'],
                response_types: ['code'],
                token_endpoint_auth_method: 'none'
            };
        }
        get clientMetadataUrl() {
            return CIMD_URL;
        }
        clientInformation() {
            return this.info;
        }
        saveClientInformation(info) {
            this.info = info;
        }
        async state() {
            return randomBytes(16).toString('base64url');
        }
        tokens() {
            return this._tokens;
        }
        saveTokens(t) {
            this._tokens = t;
        }
        saveCodeVerifier(v) {
            this._verifier = v;
        }
        codeVerifier() {
            return this._verifier;
        }
        discoveryState() {
            return this._discovery;
        }
        saveDiscoveryState(state) {
            this._discovery = state;
        }
        invalidateCredentials(scope) {
            if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
            if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
            if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
        }
        async redirectToAuthorization(url) {
            this.authorizations.push(url);
            this.result = await ua.authorize(url, REDIRECT);
        }
    }

    const provider = new Provider();
    const newTransport = () => new StreamableHTTPClientTransport(GATEWAY, { authProvider: provider, fetch: fetchFn });
    const newClient = () => new Client({ name: `keyward-interop-gateway-${sdk}`, version: '0.0.0' });
    const text = r => r.content?.map(c => c.text).join(' ') ?? JSON.stringify(r);
    let transport = newTransport();
    let client = newClient();
    let hubMeta;

    await steps.run('unauthenticated-401', async () => {
        let threw;
        try {
            await client.connect(transport);
        } catch (err) {
            threw = err;
        }
        check(threw instanceof UnauthorizedError, `connect should stop at the authorization redirect, got: ${threw ?? 'success'}`);
        const r = find(trace, 'POST', GATEWAY.href)[0];
        check(r?.status === 401, `first POST answered ${r?.status}`);
        const www = r.response_headers['www-authenticate'] ?? '';
        check(www === `Bearer scope="docs:connect", resource_metadata="${PRM_URL}"`, `WWW-Authenticate: ${www}`);
        return www;
    });

    await steps.run('discovery-prm', async () => {
        const r = find(trace, 'GET', PRM_URL).at(-1);
        check(r?.status === 200, `GET ${PRM_URL}: ${r?.status ?? 'not requested'}`);
        const prm = JSON.parse(r.response_body);
        check(prm.resource === GATEWAY.href, `resource ${prm.resource}`);
        check(prm.authorization_servers?.[0] === HUB, `authorization_servers ${prm.authorization_servers}`);
        check(prm.keyward_tool_scopes?.read_page?.[0] === 'docs:read', `tool scopes ${JSON.stringify(prm.keyward_tool_scopes)}`);
        const meta = trace.find(e => e.who === 'sdk' && e.method === 'GET' && e.url.startsWith(HUB + '/.well-known/') && e.status === 200);
        hubMeta = JSON.parse(meta.response_body);
        return 'served by the gateway, written by the hub';
    });

    if (CIMD_URL) {
        await steps.run('cimd-client-id', async () => checkMetadataClientId(trace, hubMeta, provider.info.client_id, CIMD_URL));
    } else {
        await steps.run('dcr-register', async () => {
            const r = find(trace, 'POST', hubMeta.registration_endpoint)[0];
            check(r?.status === 201, `registration: ${r?.status}`);
            return `client_id=${provider.info.client_id}`;
        });
    }

    await steps.run('authorize-connect-scope', async () => {
        const u = provider.authorizations[0];
        check(u.searchParams.get('scope') === 'docs:connect', `scope=${u.searchParams.get('scope')}`);
        check(u.searchParams.get('resource') === GATEWAY.href, `resource=${u.searchParams.get('resource')}`);
        check(provider.result.pages.join(',') === 'login,consent', `pages ${provider.result.pages}`);
        await finishAuth(transport, provider.result.callback.searchParams);
        check(claims(provider.tokens().access_token).scope === 'docs:connect', `scope ${claims(provider.tokens().access_token).scope}`);
        return 'scope=docs:connect, login, consent, tokens';
    });

    await steps.run('connect', async () => {
        transport = newTransport();
        client = newClient();
        await client.connect(transport);
        const tools = await client.listTools();
        check(tools.tools.some(t => t.name === 'read_page'), `tools: ${tools.tools.map(t => t.name)}`);
        return 'initialize + tools/list with docs:connect';
    });

    // search_docs needs docs:search: the gateway says 403 insufficient_scope
    // with scope="docs:connect docs:search". SDK 1.32 answers with a refresh
    // (no scope on it, and a refresh cannot widen a grant: RFC 6749 §6), gets
    // docs:connect again, and stops ("403 after trying upscoping").
    await steps.run('step-up-403', async () => {
        const before = trace.length;
        let threw;
        try {
            await client.callTool({ name: 'search_docs', arguments: { query: 'refund' } });
        } catch (err) {
            threw = err;
        }
        const since = trace.slice(before);
        const r = find(since, 'POST', GATEWAY.href)[0];
        check(r?.status === 403, `the call answered ${r?.status}`);
        const www = r.response_headers['www-authenticate'] ?? '';
        check(
            www === `Bearer error="insufficient_scope", error_description="this call needs the scope docs:search", scope="docs:connect docs:search", resource_metadata="${PRM_URL}"`,
            `WWW-Authenticate: ${www}`
        );
        if (provider.authorizations.length === 2) {
            // The SDK authorized again with the challenge's scope at once.
            check(threw instanceof UnauthorizedError, `expected the new authorization, got: ${threw ?? 'success'}`);
            provider.steppedUp = true;
            return '403 insufficient_scope -> SDK authorizes with the challenge scope';
        }
        const refresh = find(since, 'POST', hubMeta.token_endpoint)[0];
        check(refresh && new URLSearchParams(refresh.request_body).get('grant_type') === 'refresh_token', 'the SDK neither re-authorized nor refreshed');
        check(threw, 'the SDK should give up after refreshing to the same scope');
        return `403 insufficient_scope -> SDK refresh (same scope) -> SDK error "${String(threw.message).slice(0, 60)}"`;
    });

    await steps.run('step-up-reauthorize', async () => {
        if (!provider.steppedUp) {
            provider._tokens = { ...provider.tokens(), refresh_token: undefined };
            transport = newTransport();
            client = newClient();
            await client.connect(transport);
            let threw;
            try {
                await client.callTool({ name: 'search_docs', arguments: { query: 'refund' } });
            } catch (err) {
                threw = err;
            }
            check(threw instanceof UnauthorizedError, `the SDK should stop at the new authorization, got: ${threw ?? 'success'}`);
        }
        const again = provider.authorizations.at(-1);
        check(provider.authorizations.length === 2, `authorizations: ${provider.authorizations.length}`);
        check(again.searchParams.get('scope') === 'docs:connect docs:search', `scope=${again.searchParams.get('scope')}`);
        check(provider.result.pages.join(',') === 'consent', `pages ${provider.result.pages} (signed in already: consent for the new scope only)`);
        await finishAuth(transport, provider.result.callback.searchParams);
        check(claims(provider.tokens().access_token).scope === 'docs:connect docs:search', `scope ${claims(provider.tokens().access_token).scope}`);
        return 'authorize scope="docs:connect docs:search" (consent only) -> tokens';
    });

    await steps.run('call-tool-after-step-up', async () => {
        transport = newTransport();
        client = newClient();
        await client.connect(transport);
        const r = await client.callTool({ name: 'search_docs', arguments: { query: 'refund' } });
        check(!r.isError, `tool error: ${text(r)}`);
        check(text(r).includes(`client_id=${provider.info.client_id}`), `the server did not see the caller: ${text(r)}`);
        check(text(r).includes('scope=docs:connect docs:search'), `scope seen: ${text(r)}`);
        return text(r).replace(/^.*\[/, '[');
    });

    await steps.run('no-token-passthrough', async () => {
        const r = await fetch(new URL('/_interop/authorization-seen', UPSTREAM));
        const { count } = await r.json();
        check(count === 0, `the server saw an Authorization header ${count} times`);
        return 'the MCP server never saw a token';
    });

    await client?.close().catch(() => {});
    steps.exit();
}
