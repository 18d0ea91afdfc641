// Machine-to-machine MCP clients on the official TypeScript SDK v2
// (@modelcontextprotocol/client) against Keyward, with the SDK's own
// client-credentials providers:
//   machine-basic       ClientCredentialsProvider (client_secret_basic)
//   machine-post        the same provider, its client information saying
//                       token_endpoint_auth_method: client_secret_post
//   machine-jwt         PrivateKeyJwtProvider (private_key_jwt, ES256, a new
//                       assertion for every token request)
//   machine-jwt-static  StaticPrivateKeyJwtProvider (private_key_jwt with one
//                       assertion the application signed beforehand)
//   machine-dpop        ClientCredentialsProvider with a DPoP session (v2's
//                       RFC 9449 support) against a hub without DPoP
// Every provider gets `expectedIssuer` = the hub (SEP-2352: the SDK sends the
// credentials to no other authorization server).
//
//   HUB_ISSUER=... MCP_URL=... MACHINE_SECRET=... MACHINE_POST_SECRET=... JWT_CLIENT_KEY=pem node client-machine.mjs
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import {
    Client,
    StreamableHTTPClientTransport,
    ClientCredentialsProvider,
    PrivateKeyJwtProvider,
    StaticPrivateKeyJwtProvider,
    DpopSession,
    OAuthError,
    OAuthErrorCode
} from '@modelcontextprotocol/client';
import { Steps, check, env, tracingFetch, find, param, verifyAccessToken, expireAccessToken, REAL_EXPIRY } from '../mcp-ts/lib.mjs';

const HUB = env('HUB_ISSUER');
const MCP_URL = new URL(env('MCP_URL'));
const PRM_URL = `${MCP_URL.origin}/.well-known/oauth-protected-resource${MCP_URL.pathname}`;
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** ClientCredentialsProvider whose client record asks for client_secret_post. */
class PostClientCredentialsProvider extends ClientCredentialsProvider {
    clientInformation() {
        return { ...super.clientInformation(), token_endpoint_auth_method: 'client_secret_post' };
    }
}

/** ClientCredentialsProvider that asks for DPoP-bound tokens (OAuthClientProvider.dpop). */
class DpopClientCredentialsProvider extends ClientCredentialsProvider {
    dpop() {
        this._dpop ??= DpopSession.create();
        return this._dpop;
    }
}

/**
 * What an application hands StaticPrivateKeyJwtProvider: a client assertion
 * (RFC 7523 §3) it signed itself, here with node:crypto, for the hub's issuer.
 */
function signAssertion(pem, clientId, audience) {
    const b64 = o => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64({
        iss: clientId,
        sub: clientId,
        aud: audience,
        iat: now,
        exp: now + 300,
        jti: randomBytes(16).toString('base64url')
    })}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: pem, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const decodeJwt = jwt => jwt.split('.').slice(0, 2).map(p => JSON.parse(Buffer.from(p, 'base64url')));
const strangerKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
const wrongSecret = () => randomBytes(32).toString('base64url');

function basicAuth(req) {
    const h = req.request_headers.authorization ?? '';
    check(h.startsWith('Basic '), `no HTTP Basic authentication (Authorization: ${h || 'none'})`);
    check(!param(req.request_body, 'client_secret'), 'secret also in the body');
    return 'client_secret_basic';
}

function assertionAuth(req) {
    const type = param(req.request_body, 'client_assertion_type');
    check(type === JWT_BEARER, `client_assertion_type=${type}`);
    check(!req.request_headers.authorization, 'an Authorization header too');
    const [header, claims] = decodeJwt(param(req.request_body, 'client_assertion'));
    return `private_key_jwt, assertion header ${JSON.stringify(header)} aud=${claims.aud}`;
}

const flows = [
    {
        flow: 'machine-basic',
        clientId: 'mcp-machine',
        provider: (secret = env('MACHINE_SECRET')) => new ClientCredentialsProvider({ clientId: 'mcp-machine', clientSecret: secret, expectedIssuer: HUB }),
        wrong: p => p(wrongSecret()),
        auth: basicAuth
    },
    {
        flow: 'machine-post',
        clientId: 'mcp-machine-post',
        provider: (secret = env('MACHINE_POST_SECRET')) =>
            new PostClientCredentialsProvider({ clientId: 'mcp-machine-post', clientSecret: secret, expectedIssuer: HUB }),
        wrong: p => p(wrongSecret()),
        auth: req => {
            check(param(req.request_body, 'client_secret'), 'no client_secret in the body');
            check(param(req.request_body, 'client_id') === 'mcp-machine-post', 'no client_id in the body');
            check(!req.request_headers.authorization, 'an Authorization header too');
            return 'client_secret_post';
        }
    },
    {
        flow: 'machine-jwt',
        clientId: 'mcp-machine-jwt',
        provider: (key = readFileSync(env('JWT_CLIENT_KEY'), 'utf8')) =>
            new PrivateKeyJwtProvider({ clientId: 'mcp-machine-jwt', privateKey: key, algorithm: 'ES256', expectedIssuer: HUB }),
        auth: assertionAuth,
        // Signed with a key the hub does not know.
        wrong: p => p(strangerKey())
    },
    {
        flow: 'machine-jwt-static',
        clientId: 'mcp-machine-jwt',
        provider: (key = readFileSync(env('JWT_CLIENT_KEY'), 'utf8')) =>
            new StaticPrivateKeyJwtProvider({
                clientId: 'mcp-machine-jwt',
                jwtBearerAssertion: signAssertion(key, 'mcp-machine-jwt', HUB),
                expectedIssuer: HUB
            }),
        auth: assertionAuth,
        wrong: p => p(strangerKey()),
        // One assertion for the provider's whole life: renewal sends it again.
        renew: 'reused-assertion'
    },
    {
        flow: 'machine-dpop',
        clientId: 'mcp-machine',
        provider: (secret = env('MACHINE_SECRET')) => new DpopClientCredentialsProvider({ clientId: 'mcp-machine', clientSecret: secret, expectedIssuer: HUB }),
        wrong: p => p(wrongSecret()),
        auth: (req, hubMeta) => {
            basicAuth(req);
            const proof = req.request_headers.dpop;
            check(proof, 'no DPoP header on the token request');
            const [h, c] = decodeJwt(proof);
            check(h.typ === 'dpop+jwt' && h.jwk && c.htm === 'POST' && c.htu === hubMeta.token_endpoint, `DPoP proof ${JSON.stringify(h)} ${JSON.stringify(c)}`);
            const body = JSON.parse(req.response_body);
            // The hub does not do DPoP (no dpop_signing_alg_values_supported): a
            // Bearer token is what it may answer, and the SDK must then send Bearer.
            check(body.token_type === 'Bearer', `token_type=${body.token_type}`);
            return `client_secret_basic + DPoP proof (${h.alg}, htm=POST, htu=token endpoint); hub: token_type=Bearer, dpop_signing_alg_values_supported ${hubMeta.dpop_signing_alg_values_supported ? JSON.stringify(hubMeta.dpop_signing_alg_values_supported) : 'absent'}`;
        },
        // The MCP requests must carry the (Bearer) token as Bearer, without a proof.
        resourceRequests: reqs => {
            const auths = reqs.map(r => r.request_headers.authorization ?? '');
            check(auths.length && auths.every(a => a.startsWith('Bearer ')), `MCP requests authorized with: ${[...new Set(auths.map(a => a.split(' ')[0]))]}`);
            check(reqs.every(r => !r.request_headers.dpop), 'a DPoP proof on an MCP request');
            return 'MCP requests: Authorization: Bearer, no DPoP proof';
        }
    }
];

const tokenError = req => {
    try {
        return JSON.parse(req.response_body);
    } catch {
        return {};
    }
};
const describe = err => `${err?.constructor?.name ?? typeof err}${err?.code ? `(${err.code})` : ''}: ${err?.message ?? err}`;

let failed = 0;
for (const f of flows) {
    const trace = [];
    const steps = new Steps('ts2', f.flow, trace);
    const provider = f.provider();
    const client = new Client({ name: 'keyward-interop-ts2-machine', version: '0.0.0' });
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
        const scope = param(tokenRequest.request_body, 'scope');
        check(provider.tokens()?.issuer === HUB, `tokens stamped with issuer ${provider.tokens()?.issuer}`);
        return `${f.auth(tokenRequest, hubMeta)}; ${scope ? `scope=${scope}` : 'no scope'}`;
    });

    await steps.run('access-token', async () => {
        const { header, payload } = await verifyAccessToken(provider.tokens().access_token, {
            issuer: HUB,
            audience: MCP_URL.href,
            jwksUri: hubMeta.jwks_uri
        });
        check(payload.client_id === f.clientId, `client_id ${payload.client_id}`);
        check((payload.scope ?? '').split(' ').includes('docs:search'), `scope ${payload.scope}`);
        check(!payload.cnf, `a cnf claim (${JSON.stringify(payload.cnf)})`);
        return `${header.alg} typ=${header.typ} aud=${payload.aud} sub=${payload.sub} scope=${payload.scope}`;
    });

    await steps.run('call-tool', async () => {
        const r = await client.callTool({ name: 'search_docs', arguments: { query: 'invoices' } });
        const text = r.content?.map(c => c.text).join(' ');
        check(!r.isError && text.includes(`client_id=${f.clientId}`), `result: ${text}`);
        // Every MCP request since the token arrived (initialize, notification, tools/call).
        const authorized = find(trace, 'POST', MCP_URL.href).filter(e => e.request_headers.authorization);
        return f.resourceRequests ? `${text}; ${f.resourceRequests(authorized)}` : text;
    });

    if (f.renew === 'reused-assertion') {
        // StaticPrivateKeyJwtProvider has one assertion; the hub accepts a jti
        // once (RFC 7523 §3 lets it refuse replays), so the renewal must fail
        // with invalid_client and the SDK must surface it.
        await steps.run('reused-assertion', async () => {
            await expireAccessToken(MCP_URL, provider.tokens().access_token);
            const mark = trace.length;
            let threw;
            try {
                await client.callTool({ name: 'search_docs', arguments: { query: 'invoices' } });
            } catch (err) {
                threw = err;
            }
            const reqs = find(trace.slice(mark), 'POST', hubMeta.token_endpoint);
            check(reqs.length, 'no token request');
            const sent = reqs.map(r => param(r.request_body, 'client_assertion'));
            check(sent.every(a => a === param(tokenRequest.request_body, 'client_assertion')), 'the SDK sent another assertion');
            const r = reqs[0];
            const body = tokenError(r);
            check(r.status === 401 && body.error === 'invalid_client', `hub answered ${r.status} ${r.response_body}`);
            check(threw instanceof OAuthError && threw.code === OAuthErrorCode.InvalidClient, `SDK raised ${threw ? describe(threw) : 'nothing'}`);
            return `same assertion sent ${reqs.length}x; hub: 401 invalid_client "${body.error_description}" -> SDK: OAuthError(invalid_client)`;
        });
    } else {
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
    }

    await client.close().catch(() => {});

    // Wrong credentials: the hub's answer must read as invalid_client to the SDK.
    await steps.run(
        'rejected-credentials',
        async () => {
            const bad = f.wrong(f.provider);
            const t = [];
            const c = new Client({ name: 'keyward-interop-ts2-machine', version: '0.0.0' });
            let threw;
            try {
                await c.connect(new StreamableHTTPClientTransport(MCP_URL, { authProvider: bad, fetch: tracingFetch(t) }));
            } catch (err) {
                threw = err;
            }
            await c.close().catch(() => {});
            const reqs = find(t, 'POST', hubMeta.token_endpoint);
            check(reqs.length, 'no token request');
            for (const req of reqs) {
                const body = tokenError(req);
                check(req.status === 401 && body.error === 'invalid_client', `hub answered ${req.status} ${req.response_body}`);
            }
            check(threw instanceof OAuthError && threw.code === OAuthErrorCode.InvalidClient, `SDK raised ${threw ? describe(threw) : 'nothing'}`);
            const www = reqs[0].response_headers['www-authenticate'];
            return `hub: 401 invalid_client${www ? ` (WWW-Authenticate: ${www})` : ''} x${reqs.length} -> SDK: OAuthError(invalid_client)`;
        },
        { required: false }
    );
    failed += steps.failed;
}
process.exitCode = failed ? 1 : 0;
