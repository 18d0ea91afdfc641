"""An MCP server with no OAuth of its own behind `keyward gateway`, reached by
the official Python SDK client: the gateway's 401 sends the SDK to the hub,
the SDK registers itself (RFC 7591), a person signs in, and a tool whose
scope the first token lacks gets 403 insufficient_scope from the gateway,
which the SDK answers by authorizing again with the challenge's scope
(step-up). The server sees the caller in X-Keyward-* headers, never the
token.

    HUB_ISSUER=... GATEWAY_URL=... UPSTREAM_URL=... python client_gateway.py

With CIMD_URL set (flow `gateway-cimd`) the client names its metadata
document instead of registering.
"""

from __future__ import annotations

import json
import os
import random
import sys
from contextlib import AsyncExitStack
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from harness import Steps, Trace, UserAgent, check, env, one_line, unverified_claims

HUB = env("HUB_ISSUER")
GATEWAY = env("GATEWAY_URL")
UPSTREAM = env("UPSTREAM_URL")
REDIRECT = f"http://127.0.0.1:{random.randint(40000, 59999)}/callback"
_g = urlsplit(GATEWAY)
PRM_URL = f"{_g.scheme}://{_g.netloc}/.well-known/oauth-protected-resource{_g.path}"
CIMD_URL = os.environ.get("CIMD_URL") or None


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Person:
    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua
        self.urls: list[str] = []
        self.pages: list[list[str]] = []
        self.callback: str | None = None

    async def redirect_handler(self, url: str) -> None:
        self.urls.append(url)
        self.callback, pages = await self.ua.authorize(url, REDIRECT)
        self.pages.append(pages)

    async def callback_handler(self) -> AuthorizationCodeResult:
        q = parse_qs(urlsplit(self.callback or "").query)
        first = lambda k: q.get(k, [None])[0]  # noqa: E731
        return AuthorizationCodeResult(code=first("code") or "", state=first("state"), iss=first("iss"))


def text(r) -> str:
    return " ".join(getattr(c, "text", "") for c in r.content)


async def main() -> int:
    trace = Trace()
    steps = Steps("py", "gateway-cimd" if CIMD_URL else "gateway", trace)
    ua = UserAgent("bob", "bob-demo-password", trace)
    person = Person(ua)
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=GATEWAY,
        client_metadata=OAuthClientMetadata(
            client_name="Keyward interop (Python SDK, through the gateway)",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        client_metadata_url=CIMD_URL,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )
    stack = AsyncExitStack()
    client: Client | None = None
    connect_error: BaseException | None = None
    try:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(auth=provider, event_hooks=trace.hooks("sdk"), timeout=httpx2.Timeout(30, read=300))
        )
        client = await stack.enter_async_context(Client(streamable_http_client(GATEWAY, http_client=http)))
    except BaseException as err:  # reported by the steps
        connect_error = err

    def after(msg: str) -> str:
        return f"{msg}; connect failed with {one_line(connect_error)}" if connect_error else msg

    async def unauthenticated() -> str:
        first = trace.find("POST", GATEWAY)
        check(first and first[0].status == 401, after(f"first POST answered {first[0].status if first else None}"))
        www = first[0].response_headers.get("www-authenticate", "")
        check(www == f'Bearer scope="docs:connect", resource_metadata="{PRM_URL}"', f"WWW-Authenticate: {www}")
        return www

    async def discovery_prm() -> str:
        got = [e for e in trace.find("GET", PRM_URL) if e.status == 200]
        check(got, after(f"no 200 from {PRM_URL}"))
        prm = json.loads(got[0].response_body)
        check(prm["resource"] == GATEWAY and prm["authorization_servers"] == [HUB], f"document: {prm}")
        return "served by the gateway, written by the hub"

    async def registered() -> str:
        got = [e for e in trace if e.method == "POST" and e.url.endswith("/register")]
        check(got and got[0].status == 201, after("no registration"))
        return f"client_id={storage.client_info.client_id}"

    async def metadata_client_id() -> str:
        got = [e for e in trace if e.method == "POST" and e.url.endswith("/register")]
        check(not got, "the SDK registered although the hub takes metadata documents")
        q = parse_qs(urlsplit(person.urls[0]).query) if person.urls else {}
        check(q.get("client_id") == [CIMD_URL], after(f"client_id={q.get('client_id')}"))
        return f"client_id={CIMD_URL} (no registration)"

    async def connect_scope() -> str:
        if connect_error:
            raise connect_error
        q = parse_qs(urlsplit(person.urls[0]).query)
        check(q.get("scope") == ["docs:connect"], f"scope={q.get('scope')}")
        check(person.pages[0] == ["login", "consent"], f"pages {person.pages[0]}")
        tools = await client.list_tools()
        check(any(t.name == "read_page" for t in tools.tools), f"tools: {[t.name for t in tools.tools]}")
        return "scope=docs:connect; login, consent; initialize + tools/list"

    async def step_up() -> str:
        mark = len(trace)
        r = await client.call_tool("read_page", {"page": "refunds"})
        since = Trace(trace[mark:])
        posts = since.find("POST", GATEWAY)
        check(posts and posts[0].status == 403, f"the first call answered {posts[0].status if posts else None}")
        www = posts[0].response_headers.get("www-authenticate", "")
        check('error="insufficient_scope"' in www and 'scope="docs:connect docs:read"' in www, f"WWW-Authenticate: {www}")
        check(len(person.urls) == 2, f"authorizations: {len(person.urls)}")
        q = parse_qs(urlsplit(person.urls[1]).query)
        check(q.get("scope") == ["docs:connect docs:read"], f"step-up scope={q.get('scope')}")
        check(person.pages[1] == ["consent"], f"pages {person.pages[1]} (signed in already: consent for the new scope only)")
        check(not r.is_error, f"tool error: {text(r)}")
        caller = CIMD_URL or storage.client_info.client_id
        check(f"client_id={caller}" in text(r), f"the server did not see the caller: {text(r)}")
        scope = unverified_claims(storage.tokens.access_token).get("scope")
        check(scope == "docs:connect docs:read", f"token scope {scope}")
        return "403 -> authorize scope=\"docs:connect docs:read\" (consent only) -> retried, called"

    async def no_passthrough() -> str:
        async with httpx2.AsyncClient() as h:
            r = await h.get(UPSTREAM.rsplit("/mcp", 1)[0] + "/_interop/authorization-seen")
        count = r.json()["count"]
        check(count == 0, f"the server saw an Authorization header {count} times")
        return "the MCP server never saw a token"

    await steps.run("unauthenticated-401", unauthenticated)
    await steps.run("discovery-prm", discovery_prm)
    if CIMD_URL:
        await steps.run("cimd-client-id", metadata_client_id)
    else:
        await steps.run("dcr-register", registered)
    await steps.run("authorize-connect-scope", connect_scope)
    await steps.run("step-up-403", step_up)
    await steps.run("no-token-passthrough", no_passthrough)
    try:
        await stack.aclose()
    except BaseException:  # noqa: BLE001 - closing after a failure
        pass
    await ua.aclose()
    return 1 if steps.failed else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
