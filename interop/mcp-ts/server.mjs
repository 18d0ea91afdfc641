// A small MCP server built with the official TypeScript SDK, protected by
// Keyward: every request to /mcp needs a Bearer access token that the hub
// signed for this server (iss = the hub, aud = this server's URL, not
// expired), checked against the hub's JWKS. It serves its own RFC 9728
// protected-resource metadata, because the hub does not (yet).
//
//   HUB_ISSUER=http://127.0.0.1:8080 MCP_PORT=8081 node server.mjs
//
// Environment:
//   HUB_ISSUER   the hub's issuer URL (required)
//   MCP_PORT     port to listen on, on 127.0.0.1 (required)
//   MCP_SCOPE    the scope the tool needs (default docs:search)
//
//   MCP_BEHIND_GATEWAY=1  no OAuth at all: `keyward gateway` stands in front
//                (interop/run.sh); the caller comes in X-Keyward-* headers,
//                which only the gateway can reach this server with. GET
//                /_interop/authorization-seen counts requests that arrived
//                with an Authorization header (the gateway must send none).
//
// Test hook (loopback only, for the interop clients): POST /_interop/expire
// makes every access token this server has accepted so far count as expired,
// so a client can show that its SDK refreshes without waiting out the real
// lifetime (the hub's minimum is one minute). Tokens the hub issues after the
// call are accepted as usual.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import {
    mcpAuthMetadataRouter,
    getOAuthProtectedResourceMetadataUrl
} from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { OAuthMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as z from 'zod';

const HUB = process.env.HUB_ISSUER;
const PORT = Number(process.env.MCP_PORT);
const BEHIND_GATEWAY = process.env.MCP_BEHIND_GATEWAY === '1';
const SCOPE = process.env.MCP_SCOPE ?? 'docs:search';
if (!HUB || !PORT) {
    console.error('server.mjs: set HUB_ISSUER and MCP_PORT');
    process.exit(2);
}
const MCP_URL = new URL(`http://127.0.0.1:${PORT}/mcp`);
const PRM_URL = getOAuthProtectedResourceMetadataUrl(MCP_URL);

const log = (...args) => console.error(new Date().toISOString(), 'mcp-server', ...args);

// The hub's metadata (RFC 8414), fetched once at start: its issuer and JWKS.
async function hubMetadata() {
    const url = new URL('/.well-known/oauth-authorization-server', HUB);
    for (let i = 0; ; i++) {
        try {
            const res = await fetch(url);
            if (res.ok) return OAuthMetadataSchema.parse(await res.json());
            throw new Error(`HTTP ${res.status}`);
        } catch (err) {
            if (i >= 50) throw new Error(`hub metadata at ${url}: ${err.message}`);
            await new Promise(r => setTimeout(r, 200));
        }
    }
}
const asMetadata = await hubMetadata();
if (asMetadata.issuer !== HUB) {
    throw new Error(`hub metadata names issuer ${asMetadata.issuer}, expected ${HUB}`);
}
const jwks = createRemoteJWKSet(new URL(asMetadata.jwks_uri));

// jti of every access token accepted so far; the test hook marks them expired.
const seen = new Set();
const expired = new Set();

/** @type {import('@modelcontextprotocol/sdk/server/auth/provider.js').OAuthTokenVerifier} */
const verifier = {
    async verifyAccessToken(token) {
        let payload, protectedHeader;
        try {
            ({ payload, protectedHeader } = await jwtVerify(token, jwks, {
                issuer: asMetadata.issuer,
                audience: MCP_URL.href,
                typ: 'at+jwt',
                algorithms: ['ES256', 'EdDSA', 'RS256']
            }));
        } catch (err) {
            // jose's messages quote claim names; keep the header value quotable.
            throw new InvalidTokenError(`token rejected (${err.code ?? err.name})`);
        }
        if (expired.has(payload.jti)) {
            throw new InvalidTokenError('Token has expired');
        }
        if (payload.jti) seen.add(payload.jti);
        return {
            token,
            clientId: String(payload.client_id ?? ''),
            scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
            expiresAt: payload.exp,
            resource: new URL(payload.aud),
            extra: { sub: payload.sub, jti: payload.jti, kid: protectedHeader.kid }
        };
    }
};

function buildServer() {
    const server = new McpServer({ name: 'keyward-interop-docs', version: '0.0.0' });
    server.registerTool(
        'search_docs',
        {
            title: 'Search the product docs',
            description: 'Search the product documentation (an interop test tool).',
            inputSchema: { query: z.string() }
        },
        async ({ query }, extra) => {
            const a = extra.authInfo;
            const who = `client_id=${a?.clientId} sub=${a?.extra?.sub} scope=${a?.scopes.join(' ')}`;
            return {
                content: [{ type: 'text', text: `1 result for "${query}": Refunds take 5 days. [${who}]` }]
            };
        }
    );
    // Behind the gateway, this tool needs docs:read (the Resource says so);
    // the server itself checks nothing.
    server.registerTool(
        'read_page',
        {
            title: 'Read a docs page',
            description: 'Read one page of the product documentation (an interop test tool).',
            inputSchema: { page: z.string() }
        },
        async ({ page }, extra) => {
            const a = extra.authInfo;
            return { content: [{ type: 'text', text: `page ${page}: Refunds. [client_id=${a?.clientId} scope=${a?.scopes.join(' ')}]` }] };
        }
    );
    return server;
}

const app = createMcpExpressApp({ host: '127.0.0.1' });

app.use((req, res, next) => {
    res.on('finish', () => {
        const auth = req.headers.authorization ? 'bearer' : 'none';
        const www = res.getHeader('www-authenticate');
        log(`${req.method} ${req.originalUrl} auth=${auth} -> ${res.statusCode}${www ? ` www-authenticate: ${www}` : ''}`);
    });
    next();
});

// RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp (the SDK's
// router also re-serves the hub's RFC 8414 document at this origin).
if (!BEHIND_GATEWAY) {
    app.use(
        mcpAuthMetadataRouter({
            oauthMetadata: asMetadata,
            resourceServerUrl: MCP_URL,
            scopesSupported: [SCOPE],
            resourceName: 'Keyward interop docs MCP server'
        })
    );
}
let authorizationSeen = 0;
app.get('/_interop/authorization-seen', (req, res) => res.json({ count: authorizationSeen }));

app.post('/_interop/expire', (req, res) => {
    for (const jti of seen) expired.add(jti);
    res.json({ expired: expired.size });
});

// Behind the gateway: the caller as the gateway says, no token at all.
const fromGateway = (req, res, next) => {
    if (req.headers.authorization) authorizationSeen++;
    const scope = String(req.headers['x-keyward-scope'] ?? '');
    req.auth = {
        token: '',
        clientId: String(req.headers['x-keyward-client-id'] ?? ''),
        scopes: scope.split(' ').filter(Boolean),
        extra: { sub: req.headers['x-keyward-subject'] }
    };
    next();
};
const bearer = BEHIND_GATEWAY
    ? fromGateway
    : requireBearerAuth({
          verifier,
          requiredScopes: [SCOPE],
          resourceMetadataUrl: PRM_URL,
          expectedResource: MCP_URL
      });

// Stateless Streamable HTTP: a fresh server and transport per request.
app.post('/mcp', bearer, async (req, res) => {
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
        transport.close();
        server.close();
    });
    try {
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
    } catch (err) {
        log('error', err);
        if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null });
    }
});
const notAllowed = (req, res) =>
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
app.get('/mcp', bearer, notAllowed);
app.delete('/mcp', bearer, notAllowed);

const listener = app.listen(PORT, '127.0.0.1', () => {
    log(`listening on ${MCP_URL.href}; metadata ${PRM_URL}; hub ${asMetadata.issuer}`);
});
const stop = () => listener.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
