"""A person signs in to an MCP client built on the official Python SDK,
through Keyward: `mcp.Client` over Streamable HTTP with the SDK's
`OAuthClientProvider` (a `TokenStorage` holding the pre-registered public
client `mcp-app`). The SDK does discovery (RFC 9728, RFC 8414), PKCE, the
state and RFC 9207 `iss` checks, the code exchange and the refresh;
`redirect_handler` and `callback_handler` only play the person and the
loopback listener.

    HUB_ISSUER=... MCP_URL=... python client_user.py

With INTEROP_DCR=1 (flow `user-dcr`) the storage starts empty: the SDK
registers the client itself at the hub's registration endpoint (RFC 7591)
and goes on with the client id it got. With INTEROP_CIMD=1 (flow
`user-cimd`) the provider gets `client_metadata_url` (CIMD_URL): the SDK
uses it as the client_id, and the hub fetches the document behind it.
"""

from __future__ import annotations

import random
import sys
import time
from contextlib import AsyncExitStack
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from harness import (
    REAL_EXPIRY,
    Steps,
    Trace,
    UserAgent,
    check,
    env,
    expire_access_token,
    one_line,
    verify_access_token,
)

HUB = env("HUB_ISSUER")
MCP_URL = env("MCP_URL")
import os

CIMD_URL = env("CIMD_URL") if os.environ.get("INTEROP_CIMD") == "1" else None
DCR = os.environ.get("INTEROP_DCR") == "1" or CIMD_URL is not None
# Set from the registration's answer in DCR mode.
CLIENT_ID = "" if DCR else "mcp-app"
# Any port is accepted for the registered http://127.0.0.1/callback (RFC 8252 §7.3).
REDIRECT = f"http://127.0.0.1:{random.randint(40000, 59999)}/callback"
_u = urlsplit(MCP_URL)
PRM_URL = f"{_u.scheme}://{_u.netloc}/.well-known/oauth-protected-resource{_u.path}"


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory; starts with the pre-registered client."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None if DCR else OAuthClientInformationFull(
            client_id=CLIENT_ID,
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            issuer=HUB,
        )
        self.saved: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saved.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        global CLIENT_ID
        self.client_info = client_info
        if DCR:
            CLIENT_ID = client_info.client_id or ""


class Person:
    """redirect_handler opens the "browser"; callback_handler is the loopback listener."""

    def __init__(self, ua: UserAgent) -> None:
        self.ua = ua
        self.authorization_url: str | None = None
        self.callback: str | None = None
        self.pages: list[str] = []
        self.error: BaseException | None = None

    async def redirect_handler(self, url: str) -> None:
        self.authorization_url = url
        try:
            self.callback, self.pages = await self.ua.authorize(url, REDIRECT)
        except Exception as err:
            self.error = err
            raise

    async def callback_handler(self) -> AuthorizationCodeResult:
        q = parse_qs(urlsplit(self.callback or "").query)
        first = lambda k: q.get(k, [None])[0]  # noqa: E731
        return AuthorizationCodeResult(code=first("code") or "", state=first("state"), iss=first("iss"))

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.callback or "").query).items()}


def make_provider(storage: MemoryStorage, person: Person) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(
            client_name="Keyward interop (Python SDK)",
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


def result_text(r) -> str:
    return " ".join(getattr(c, "text", "") for c in r.content)


async def call_tool(client: Client) -> str:
    r = await client.call_tool("search_docs", {"query": "refund"})
    check(not r.is_error, f"tool error: {result_text(r)}")
    check(f"client_id={CLIENT_ID}" in result_text(r), f"unexpected tool result: {result_text(r)}")
    return result_text(r)


async def connect(stack: AsyncExitStack, provider: OAuthClientProvider, trace: Trace) -> Client:
    http = await stack.enter_async_context(
        httpx2.AsyncClient(auth=provider, event_hooks=trace.hooks("sdk"), timeout=httpx2.Timeout(30, read=300))
    )
    return await stack.enter_async_context(Client(streamable_http_client(MCP_URL, http_client=http)))


async def main() -> int:
    trace = Trace()
    steps = Steps("py", "user-cimd" if CIMD_URL else "user-dcr" if DCR else "user", trace)
    # bob: the TypeScript flow signed alice in and she consented already.
    ua = UserAgent("bob", "bob-demo-password", trace)
    person = Person(ua)
    storage = MemoryStorage()
    provider = make_provider(storage, person)
    stack = AsyncExitStack()
    client: Client | None = None
    connect_error: BaseException | None = None
    hub_meta: dict = {}
    state: dict = {}

    # The whole authorization happens inside the SDK while the client connects:
    # 401 -> discovery -> redirect_handler/callback_handler -> token -> retry.
    try:
        client = await connect(stack, provider, trace)
    except BaseException as err:  # reported by the steps below
        connect_error = err

    def after_connect(msg: str) -> str:
        return f"{msg}; connect failed with {one_line(connect_error)}" if connect_error else msg

    async def unauthenticated() -> str:
        first = trace.find("POST", MCP_URL)
        check(first and first[0].status == 401, after_connect(f"first POST answered {first[0].status if first else None}"))
        www = first[0].response_headers.get("www-authenticate", "")
        check(f'resource_metadata="{PRM_URL}"' in www, f"WWW-Authenticate: {www}")
        return f"WWW-Authenticate: {www[:60]}..."

    async def discovery_prm() -> str:
        got = [e for e in trace.find("GET", PRM_URL) if e.status == 200]
        check(got, after_connect(f"no 200 from {PRM_URL}"))
        return f"{PRM_URL}"

    async def discovery_as() -> str:
        got = [e for e in trace if e.who == "sdk" and e.method == "GET" and e.url.startswith(HUB + "/.well-known/")]
        ok = [e for e in got if e.status == 200]
        check(ok, after_connect(f"SDK fetched from the hub: {[(e.url, e.status) for e in got]}"))
        import json

        hub_meta.update(json.loads(ok[0].response_body))
        return ok[0].url.replace(HUB, "")

    async def metadata_client_id() -> str:
        check(hub_meta.get("client_id_metadata_document_supported") is True, "not advertised by the hub")
        check(CLIENT_ID == CIMD_URL, after_connect(f"client_id {CLIENT_ID!r}, expected the document URL"))
        endpoint = hub_meta.get("registration_endpoint")
        check(not (endpoint and trace.find("POST", endpoint)), "the SDK registered although the hub takes metadata documents")
        return f"client_id={CLIENT_ID} (no registration)"

    async def registered() -> str:
        import json

        endpoint = hub_meta.get("registration_endpoint")
        check(endpoint, "the hub's metadata names no registration_endpoint")
        got = trace.find("POST", endpoint)
        check(got and got[0].status == 201, after_connect(f"POST {endpoint}: {got[0].status if got else 'not sent'}"))
        sent, answer = json.loads(got[0].request_body), json.loads(got[0].response_body)
        check(sent.get("redirect_uris") == [REDIRECT], f"redirect_uris sent {sent.get('redirect_uris')}")
        check(answer.get("token_endpoint_auth_method") == "none", f"registered as {answer.get('token_endpoint_auth_method')}")
        check(answer.get("client_id") == CLIENT_ID and CLIENT_ID.startswith("dcr-"), f"client_id {answer.get('client_id')}")
        return f"201 client_id={CLIENT_ID} token_endpoint_auth_method=none"

    async def authorize_request() -> str:
        url = person.authorization_url
        check(url, after_connect("redirect_handler was not called"))
        check(url.split("?")[0] == hub_meta["authorization_endpoint"], f"endpoint {url.split('?')[0]}")
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        want = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "code_challenge_method": "S256",
            "redirect_uri": REDIRECT,
            "resource": MCP_URL,
        }
        for k, v in want.items():
            check(q.get(k) == v, f"{k}={q.get(k)}, expected {v}")
        check("docs:search" in q.get("scope", "").split(), f"scope={q.get('scope')}")
        check(q.get("state"), "no state")
        extra = f" prompt={q['prompt']}" if "prompt" in q else ""
        return f"scope={q.get('scope')}{extra} resource={q.get('resource')}"

    async def login() -> str:
        if person.error and not person.pages:
            raise person.error
        check(person.pages[:1] == ["login"], f"pages: {person.pages}; {person.error or ''}")
        check("keyward-session" in ua.cookie_names(), f"no keyward-session cookie (cookies: {ua.cookie_names()})")
        return "bob"

    async def consent() -> str:
        if person.error:
            raise person.error
        check("consent" in person.pages, f"pages: {person.pages}")
        q = person.query()
        check(q.get("code"), f"callback without code: {person.callback}")
        check(q.get("iss") == HUB, f"iss={q.get('iss')}, expected {HUB}")
        return "redirect with code, state, iss"

    async def token_exchange() -> str:
        req = [e for e in trace.find("POST", hub_meta["token_endpoint"]) if e.param("grant_type") == "authorization_code"]
        check(req, after_connect("no authorization_code request"))
        r = req[0]
        check(r.status == 200, f"token endpoint answered {r.status}: {r.response_body}")
        check(r.param("code_verifier"), "no code_verifier")
        check(r.param("resource") == MCP_URL, f"resource={r.param('resource')}")
        t = storage.tokens
        check(t and t.access_token and t.refresh_token, f"stored tokens: {t}")
        state["first"] = t
        return f"token_type={t.token_type} expires_in={t.expires_in} scope={t.scope}"

    async def access_token() -> str:
        header, claims = verify_access_token(state["first"].access_token, HUB, MCP_URL, hub_meta["jwks_uri"])
        check(claims.get("client_id") == CLIENT_ID, f"client_id {claims.get('client_id')}")
        check("docs:search" in claims.get("scope", "").split(), f"scope {claims.get('scope')}")
        return f"{header['alg']} typ={header['typ']} aud={claims['aud']} scope={claims.get('scope')}"

    async def connected() -> str:
        if connect_error:
            raise connect_error
        tools = await client.list_tools()
        check(any(t.name == "search_docs" for t in tools.tools), f"tools: {[t.name for t in tools.tools]}")
        return f"protocol {client.session.protocol_version}; tools/list"

    async def call() -> str:
        return await call_tool(client)

    async def refresh(key: str) -> str:
        before = storage.tokens
        # With --real-expiry the first refresh waits out the token's exp; the others use the hook.
        real = REAL_EXPIRY and key == "refresh"
        how = await expire_access_token(MCP_URL, before.access_token, real)
        if not real:
            # The SDK refreshes when its own clock says the token expired (it
            # answers a 401 with a new authorization instead): let it say so.
            provider.context.token_expiry_time = time.time() - 1
        mark = len(trace)
        text = await call_tool(client)
        since = Trace(trace[mark:])
        req = since.find("POST", hub_meta["token_endpoint"])
        check(req, "the SDK made no token request")
        check(req[0].param("grant_type") == "refresh_token", f"grant_type={req[0].param('grant_type')}")
        check(req[0].param("refresh_token") == before.refresh_token, "not the stored refresh token")
        check(req[0].status == 200, f"token endpoint answered {req[0].status}: {req[0].response_body}")
        after = storage.tokens
        check(after.access_token != before.access_token, "no new access token")
        check(person.authorization_url and not any(e.who == "user-agent" for e in since), "the person was asked again")
        state[key] = (before, after)
        return f"{how}; grant_type=refresh_token before the request"

    async def rotated() -> str:
        before, after = state["refresh"]
        check(after.refresh_token and after.refresh_token != before.refresh_token, "no new refresh token")
        return "a new refresh token, kept by the SDK"

    async def refresh_rejected() -> str:
        # The hub refuses the refresh token (here: one it never issued): the SDK
        # must drop its tokens and authorize anew (the hub's session makes it quick).
        ctx = provider.context
        ctx.current_tokens = ctx.current_tokens.model_copy(update={"refresh_token": "not-issued-" + str(time.time())})
        await expire_access_token(MCP_URL, ctx.current_tokens.access_token)
        ctx.token_expiry_time = time.time() - 1
        person.pages, person.callback = [], None
        mark = len(trace)
        await call_tool(client)
        since = Trace(trace[mark:])
        req = [e for e in since.find("POST", hub_meta["token_endpoint"]) if e.param("grant_type") == "refresh_token"]
        check(req, "no refresh request")
        check(
            req[0].status == 400 and '"invalid_grant"' in (req[0].response_body or ""),
            f"hub answered {req[0].status} {req[0].response_body}",
        )
        again = [e for e in since.find("POST", hub_meta["token_endpoint"]) if e.param("grant_type") == "authorization_code"]
        check(again and again[0].status == 200, "the SDK did not authorize anew")
        shown = ", ".join(person.pages) or "none"
        return f"hub: 400 invalid_grant -> SDK: new authorization (pages shown: {shown})"

    async def reauthorize() -> str:
        again = Person(ua)
        store2 = MemoryStorage()
        trace2 = Trace()
        async with AsyncExitStack() as stack2:
            c = await connect(stack2, make_provider(store2, again), trace2)
            await call_tool(c)
        shown = ", ".join(again.pages) or "none"
        return f"pages shown: {shown}"

    await steps.run("unauthenticated-401", unauthenticated)
    await steps.run("discovery-prm", discovery_prm)
    await steps.run("discovery-as-metadata", discovery_as)
    if CIMD_URL:
        await steps.run("cimd-client-id", metadata_client_id)
    elif DCR:
        await steps.run("dcr-register", registered)
    await steps.run("authorize-request", authorize_request)
    await steps.run("login", login)
    await steps.run("consent", consent)
    await steps.run("token-exchange", token_exchange)
    await steps.run("access-token", access_token)
    await steps.run("connect", connected)
    await steps.run("call-tool", call)
    await steps.run("refresh", lambda: refresh("refresh"))
    await steps.run("refresh-rotated", rotated)
    await steps.run("refresh-again", lambda: refresh("refresh-again"))
    await steps.run("refresh-token-rejected", refresh_rejected, required=False)
    try:
        await stack.aclose()
    except BaseException:
        pass
    await steps.run("reauthorize-with-session", reauthorize, required=False)
    await ua.aclose()
    return 1 if steps.failed else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
