"""Test harness shared by the Python interop clients: step reporting, event
hooks that record every exchange an httpx2 client makes, a scripted user agent
for the hub's sign-in pages, and access-token checks. Discovery, PKCE, the
token requests and refresh are the SDK's; nothing here does them for it.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import jwt


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        print(f"set {name}", file=sys.stderr)
        sys.exit(2)
    return value


def one_line(err: BaseException | str) -> str:
    text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    # Exception groups from anyio task groups: report the first leaf.
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
        text = f"{type(err).__name__}: {err}"
    return re.sub(r"\s+", " ", text)[:600]


class StepFailed(Exception):
    pass


def check(cond: Any, message: str) -> None:
    if not cond:
        raise StepFailed(message)


# ---- traced exchanges --------------------------------------------------------


@dataclass
class Exchange:
    who: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None

    def param(self, name: str) -> str | None:
        values = parse_qs(self.request_body or "").get(name)
        return values[0] if values else None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Trace(list):
    """Every request an httpx2 client made, through its event hooks."""

    def hooks(self, who: str) -> dict[str, list[Callable[..., Awaitable[None]]]]:
        async def on_request(request: httpx2.Request) -> None:
            body = None
            try:
                body = request.content.decode("utf-8", "replace")
            except Exception:  # a streaming body
                body = "[stream]"
            self.append(
                Exchange(who, request.method, str(request.url), dict(request.headers), body)
            )
            request.extensions["interop_trace"] = self[-1]

        async def on_response(response: httpx2.Response) -> None:
            entry = response.request.extensions.get("interop_trace")
            if entry is None:
                return
            entry.status = response.status_code
            entry.response_headers = dict(response.headers)
            kind = response.headers.get("content-type", "")
            if "text/event-stream" not in kind:
                await response.aread()
                entry.response_body = response.text[:4000]

        return {"request": [on_request], "response": [on_response]}

    def find(self, method: str, url: str) -> list[Exchange]:
        return [e for e in self if e.method == method and e.url.split("?")[0] == url]


# ---- steps ---------------------------------------------------------------------


class Steps:
    """Runs named steps in order and prints one line for each:
    `PASS py <flow> <step> (detail)`, `FAIL py <flow> <step>: reason`, or
    `SKIP py <flow> <step>: not run, <step> failed` once a required step failed."""

    def __init__(self, sdk: str, flow: str, trace: Trace | None = None):
        self.sdk, self.flow, self.trace = sdk, flow, trace
        self.failed = 0
        self.blocked_by: str | None = None

    async def run(self, name: str, fn: Callable[[], Awaitable[str | None]], required: bool = True) -> bool | None:
        ident = f"{self.sdk} {self.flow} {name}"
        if self.blocked_by:
            print(f"SKIP {ident}: not run, {self.blocked_by} failed", flush=True)
            return None
        mark = len(self.trace or [])
        try:
            detail = await fn()
        except BaseException as err:  # noqa: BLE001 - every failure is reported
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            self.failed += 1
            print(f"FAIL {ident}: {one_line(err)}", flush=True)
            if os.environ.get("INTEROP_VERBOSE"):
                import traceback

                traceback.print_exception(err, file=sys.stderr)
            if self.trace is not None:
                dump_trace(ident, self.trace[mark:])
            if required:
                self.blocked_by = name
            return False
        print(f"PASS {ident}" + (f" ({detail})" if detail else ""), flush=True)
        return True


def dump_trace(ident: str, entries: list[Exchange]) -> None:
    if not entries:
        return
    text = "\n".join(json.dumps({"step": ident, **e.as_dict()}) for e in entries)
    print(f"--- exchanges during {ident} ---\n{text}\n---", file=sys.stderr)
    path = os.environ.get("INTEROP_TRACE_FILE")
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")


# ---- scripted user agent -------------------------------------------------------


def parse_form(page: str) -> dict[str, Any] | None:
    """The first form of an HTML page: action, hidden fields, other field names, buttons."""
    m = re.search(r"<form\b[^>]*>(.*?)</form>", page, re.S | re.I)
    if not m:
        return None

    def attrs(tag: str) -> dict[str, str]:
        return {k.lower(): html.unescape(v) for k, v in re.findall(r'([a-zA-Z_:-]+)\s*=\s*"([^"]*)"', tag)}

    head = attrs(re.match(r"<form\b[^>]*>", m.group(0), re.I).group(0))
    hidden: dict[str, str] = {}
    fields: list[str] = []
    for tag in re.findall(r"<input\b[^>]*>", m.group(1), re.I):
        a = attrs(tag)
        if a.get("type") == "hidden":
            hidden[a.get("name", "")] = a.get("value", "")
        elif a.get("name"):
            fields.append(a["name"])
    buttons = [attrs(t) for t in re.findall(r"<button\b[^>]*>", m.group(1), re.I)]
    return {"action": head.get("action", ""), "hidden": hidden, "fields": fields, "buttons": buttons}


class UserAgent:
    """A browser stand-in on its own httpx2 client (and so its own cookie jar):
    follows redirects by hand, signs in on the hub's login form, allows on its
    consent form, and stops at the first redirect to the client's redirect URI."""

    def __init__(self, username: str, password: str, trace: Trace):
        self.username, self.password = username, password
        self.http = httpx2.AsyncClient(follow_redirects=False, event_hooks=trace.hooks("user-agent"), timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    def cookie_names(self) -> list[str]:
        return [c.name for c in self.http.cookies.jar]

    async def authorize(self, authorization_url: str, redirect_uri: str) -> tuple[str, list[str]]:
        target = urlsplit(redirect_uri)
        pages: list[str] = []
        url = authorization_url
        res = await self.http.get(url)
        for _ in range(12):
            if 300 <= res.status_code < 400:
                location = res.headers.get("location")
                if not location:
                    raise StepFailed(f"HTTP {res.status_code} from {url} without Location")
                nxt = urljoin(url, location)
                n = urlsplit(nxt)
                if (n.scheme, n.netloc, n.path) == (target.scheme, target.netloc, target.path):
                    return nxt, pages
                url = nxt
                res = await self.http.get(url)
                continue
            if res.status_code != 200:
                raise StepFailed(f"HTTP {res.status_code} from {url}: {res.text[:300]}")
            form = parse_form(res.text)
            if not form:
                raise StepFailed(f"page at {url} has no form: {res.text[:300]}")
            action = urljoin(url, form["action"] or url)
            if "username" in form["fields"] and "password" in form["fields"]:
                pages.append("login")
                data = {**form["hidden"], "username": self.username, "password": self.password}
            elif any(b.get("name") == "decision" and b.get("value") == "allow" for b in form["buttons"]):
                pages.append("consent")
                data = {**form["hidden"], "decision": "allow"}
            else:
                raise StepFailed(f"unexpected form at {url}: {form}")
            res = await self.http.post(action, data=data)
            url = action
        raise StepFailed("too many hops before reaching the redirect URI")


# ---- tokens ------------------------------------------------------------------------


def verify_access_token(token: str, issuer: str, audience: str, jwks_uri: str) -> tuple[dict, dict]:
    """Checks an access token as a resource server would; returns (header, claims)."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key, algorithms=["ES256", "EdDSA", "RS256"], audience=audience, issuer=issuer)
    check(header.get("typ") == "at+jwt", f"typ {header.get('typ')}")
    return header, claims


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


REAL_EXPIRY = os.environ.get("INTEROP_REAL_EXPIRY") == "1"


async def expire_access_token(mcp_url: str, access_token: str, real: bool = False) -> str:
    """Makes the current access token unusable at the MCP server: the server's
    test hook marks every token it accepted as expired, or, with `real` (the
    caller passes REAL_EXPIRY, set by run.sh --real-expiry), wait out the
    token's own `exp`."""
    import anyio

    if real:
        wait = unverified_claims(access_token)["exp"] - time.time() + 2.5
        if wait > 0:
            await anyio.sleep(wait)
        return f"waited {round(wait)} s for exp"
    async with httpx2.AsyncClient() as http:
        res = await http.post(urljoin(mcp_url, "/_interop/expire"))
        check(res.status_code == 200, f"test hook answered {res.status_code}")
    return "server test hook"
