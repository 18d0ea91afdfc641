// The TypeScript SDK v2 (`@modelcontextprotocol/client`) through `keyward
// gateway`: the steps are ../mcp-ts/gateway-flow.mjs's. v2's `finishAuth`
// takes the whole callback query and checks `iss` (RFC 9207).
//
//   HUB_ISSUER=... GATEWAY_URL=... UPSTREAM_URL=... [CIMD_URL=...] node client-gateway.mjs
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { runGatewayFlow } from '../mcp-ts/gateway-flow.mjs';

await runGatewayFlow({
    sdk: 'ts2',
    Client,
    StreamableHTTPClientTransport,
    UnauthorizedError,
    finishAuth: (transport, query) => transport.finishAuth(query)
});
