// The TypeScript SDK v1 (`@modelcontextprotocol/sdk`) through `keyward
// gateway`: the steps are gateway-flow.mjs's. v1's `finishAuth` takes the code.
//
//   HUB_ISSUER=... GATEWAY_URL=... UPSTREAM_URL=... [CIMD_URL=...] node client-gateway.mjs
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { runGatewayFlow } from './gateway-flow.mjs';

await runGatewayFlow({
    sdk: 'ts',
    Client,
    StreamableHTTPClientTransport,
    UnauthorizedError,
    finishAuth: (transport, query) => transport.finishAuth(query.get('code'))
});
