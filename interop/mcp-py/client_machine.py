"""Machine-to-machine MCP clients on the official Python SDK against Keyward,
with the SDK's own providers from mcp.client.auth.extensions.client_credentials:

    machine-basic  ClientCredentialsOAuthProvider, client_secret_basic
    machine-post   ClientCredentialsOAuthProvider, client_secret_post
    machine-jwt    PrivateKeyJWTOAuthProvider with SignedJWTParameters (ES256)

    HUB_ISSUER=... MCP_URL=... MACHINE_SECRET=... MACHINE_POST_SECRET=... JWT_CLIENT_KEY=pem python client_machine.py
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthToken

from harness import REAL_EXPIRY, Exchange, Steps, Trace, check, env, expire_access_token, one_line, verify_access_token

HUB = env("HUB_ISSUER")
MCP_URL = env("MCP_URL")
_u = urlsplit(MCP_URL)
PRM_URL = f"{_u.scheme}://{_u.netloc}/.well-known/oauth-protected-resource{_u.path}"


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def b64json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def basic(req: Exchange) -> str:
    h = req.request_headers.get("authorization", "")
    check(h.startswith("Basic "), f"no HTTP Basic authentication (Authorization: {h or 'none'})")
    check(not req.param("client_secret"), "secret also in the body")
    return "client_secret_basic"


def post(req: Exchange) -> str:
    check(req.param("client_secret"), "no client_secret in the body")
    check("authorization" not in req.request_headers, "an Authorization header too")
    return "client_secret_post"


def assertion(req: Exchange) -> str:
    kind = req.param("client_assertion_type")
    check(kind == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", f"client_assertion_type={kind}")
    h, p, _ = (req.param("client_assertion") or "..").split(".")
    return f"private_key_jwt, assertion header {json.dumps(b64json(h))} aud={b64json(p).get('aud')}"


def other_key() -> str:
    """A P-256 key the hub does not know."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


FLOWS = [
    (
        "machine-basic",
        "mcp-machine",
        lambda s, wrong=False: ClientCredentialsOAuthProvider(
            server_url=MCP_URL,
            storage=s,
            client_id="mcp-machine",
            client_secret=secrets.token_urlsafe(32) if wrong else env("MACHINE_SECRET"),
            token_endpoint_auth_method="client_secret_basic",
            issuer=HUB,
        ),
        basic,
    ),
    (
        "machine-post",
        "mcp-machine-post",
        lambda s, wrong=False: ClientCredentialsOAuthProvider(
            server_url=MCP_URL,
            storage=s,
            client_id="mcp-machine-post",
            client_secret=secrets.token_urlsafe(32) if wrong else env("MACHINE_POST_SECRET"),
            token_endpoint_auth_method="client_secret_post",
            issuer=HUB,
        ),
        post,
    ),
    (
        "machine-jwt",
        "mcp-machine-jwt",
        lambda s, wrong=False: PrivateKeyJWTOAuthProvider(
            server_url=MCP_URL,
            storage=s,
            client_id="mcp-machine-jwt",
            assertion_provider=SignedJWTParameters(
                issuer="mcp-machine-jwt",
                subject="mcp-machine-jwt",
                signing_key=other_key() if wrong else open(env("JWT_CLIENT_KEY")).read(),
                signing_algorithm="ES256",
            ).create_assertion_provider(),
            issuer=HUB,
        ),
        assertion,
    ),
]


async def run_flow(flow: str, client_id: str, make_provider, check_auth) -> int:
    trace = Trace()
    steps = Steps("py", flow, trace)
    storage = MemoryStorage()
    provider = make_provider(storage)
    hub_meta: dict = {}

    async with AsyncExitStack() as stack:
        client: Client | None = None
        connect_error: BaseException | None = None
        try:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(auth=provider, event_hooks=trace.hooks("sdk"), timeout=httpx2.Timeout(30, read=300))
            )
            client = await stack.enter_async_context(Client(streamable_http_client(MCP_URL, http_client=http)))
        except BaseException as err:
            connect_error = err

        async def connect() -> str:
            first = trace.find("POST", MCP_URL)
            if connect_error:
                raise connect_error
            check(first and first[0].status == 401, "the first request was not answered 401")
            return f"401 -> discovery -> token -> protocol {client.session.protocol_version}"

        async def discovery() -> str:
            check(any(e.status == 200 for e in trace.find("GET", PRM_URL)), f"no 200 from {PRM_URL}")
            ok = [e for e in trace if e.method == "GET" and e.url.startswith(HUB + "/.well-known/") and e.status == 200]
            check(ok, "no authorization-server metadata from the hub")
            hub_meta.update(json.loads(ok[0].response_body))
            return f"{PRM_URL.replace(MCP_URL.rsplit('/', 1)[0], '')} then hub {ok[0].url.replace(HUB, '')}"

        async def token() -> str:
            req = trace.find("POST", hub_meta["token_endpoint"])
            check(req, "no token request")
            r = req[0]
            check(r.param("grant_type") == "client_credentials", f"grant_type={r.param('grant_type')}")
            check(r.status == 200, f"HTTP {r.status}: {r.response_body}")
            check(r.param("resource") == MCP_URL, f"resource={r.param('resource')}")
            return check_auth(r) + (f" scope={r.param('scope')}" if r.param("scope") else "")

        async def access_token() -> str:
            header, claims = verify_access_token(storage.tokens.access_token, HUB, MCP_URL, hub_meta["jwks_uri"])
            check(claims.get("client_id") == client_id, f"client_id {claims.get('client_id')}")
            check("docs:search" in claims.get("scope", "").split(), f"scope {claims.get('scope')}")
            return f"{header['alg']} typ={header['typ']} aud={claims['aud']} sub={claims['sub']} scope={claims.get('scope')}"

        async def call() -> str:
            r = await client.call_tool("search_docs", {"query": "invoices"})
            text = " ".join(getattr(c, "text", "") for c in r.content)
            check(not r.is_error and f"client_id={client_id}" in text, f"result: {text}")
            return text

        async def renew() -> str:
            before = storage.tokens.access_token
            # With --real-expiry the first flow waits out its token's exp; the others use the hook.
            how = await expire_access_token(MCP_URL, before, REAL_EXPIRY and flow == FLOWS[0][0])
            mark = len(trace)
            await call()
            since = Trace(trace[mark:])
            req = since.find("POST", hub_meta["token_endpoint"])
            check(req and req[0].status == 200 and req[0].param("grant_type") == "client_credentials", "no new client_credentials grant")
            check(storage.tokens.access_token != before, "same token")
            first = since.find("POST", MCP_URL)
            seq = "401 -> " if first and first[0].status == 401 else ""
            return f"{how}; {seq}a new client_credentials token -> retried"

        await steps.run("connect", connect)
        await steps.run("discovery", discovery)
        await steps.run("token", token)
        await steps.run("access-token", access_token)
        await steps.run("call-tool", call)
        await steps.run("renew-after-expiry", renew)
        try:
            await stack.aclose()
        except BaseException as err:  # closing is not a step
            print(f"({flow}: close: {one_line(err)})", file=sys.stderr)

    async def rejected() -> str:
        # Wrong credentials: the SDK must stop with the hub's invalid_client.
        t = Trace()
        raised: BaseException | None = None
        try:
            async with httpx2.AsyncClient(auth=make_provider(MemoryStorage(), wrong=True), event_hooks=t.hooks("sdk")) as http:
                async with Client(streamable_http_client(MCP_URL, http_client=http)):
                    pass
        except BaseException as err:
            raised = err
        req = t.find("POST", hub_meta["token_endpoint"])
        check(req, "no token request")
        check(
            req[0].status == 401 and '"invalid_client"' in (req[0].response_body or ""),
            f"hub answered {req[0].status} {req[0].response_body}",
        )
        check(raised is not None and "invalid_client" in one_line(raised), f"SDK raised {one_line(raised or 'nothing')}")
        return f"hub: 401 invalid_client -> SDK: {one_line(raised)[:90]}"

    await steps.run("rejected-credentials", rejected, required=False)
    return steps.failed


async def main() -> int:
    failed = 0
    for flow in FLOWS:
        failed += await run_flow(*flow)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
