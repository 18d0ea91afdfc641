// Test harness shared by the TypeScript interop clients: step reporting, a
// fetch that records every exchange the SDK makes, a scripted user agent for
// the hub's sign-in pages, and JWT decoding. Nothing here talks OAuth on the
// SDK's behalf: discovery, PKCE, the token requests and refresh are the SDK's.
import { appendFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader, decodeJwt } from 'jose';

export function env(name) {
    const v = process.env[name];
    if (!v) {
        console.error(`set ${name}`);
        process.exit(2);
    }
    return v;
}

const oneLine = e => String(e?.stack && process.env.INTEROP_VERBOSE ? e.stack : (e?.message ?? e)).replace(/\s+/g, ' ').slice(0, 600);

/**
 * Runs named steps in order. A step that throws is FAIL; once a step marked
 * `required` fails, the rest are SKIP (not run). Prints one line per step:
 * `PASS <sdk> <flow> <step> (detail)`, `FAIL <sdk> <flow> <step>: reason`,
 * `SKIP <sdk> <flow> <step>: not run, <step> failed`.
 */
export class Steps {
    constructor(sdk, flow, trace) {
        this.sdk = sdk;
        this.flow = flow;
        this.trace = trace;
        this.failed = 0;
        this.blockedBy = undefined;
    }
    async run(name, fn, { required = true } = {}) {
        const id = `${this.sdk} ${this.flow} ${name}`;
        if (this.blockedBy) {
            console.log(`SKIP ${id}: not run, ${this.blockedBy} failed`);
            return undefined;
        }
        const mark = this.trace?.length ?? 0;
        try {
            const detail = await fn();
            console.log(`PASS ${id}${detail ? ` (${detail})` : ''}`);
            return true;
        } catch (err) {
            this.failed++;
            console.log(`FAIL ${id}: ${oneLine(err)}`);
            if (this.trace) dumpTrace(id, this.trace.slice(mark));
            if (required) this.blockedBy = name;
            return false;
        }
    }
    exit() {
        process.exitCode = this.failed ? 1 : 0;
    }
}

export function check(cond, message) {
    if (!cond) throw new Error(message);
}

// ---- traced fetch -------------------------------------------------------

function headersObject(h) {
    if (!h) return {};
    if (h instanceof Headers) return Object.fromEntries(h.entries());
    if (Array.isArray(h)) return Object.fromEntries(h);
    return { ...h };
}

function bodyText(body) {
    if (body == null) return undefined;
    if (typeof body === 'string') return body;
    if (body instanceof URLSearchParams) return body.toString();
    return `[${body.constructor?.name ?? typeof body}]`;
}

/** Where failing steps' exchanges go, besides stderr: $INTEROP_TRACE_FILE. */
function dumpTrace(id, entries) {
    const text = entries.map(e => JSON.stringify({ step: id, ...e })).join('\n');
    if (!text) return;
    console.error(`--- exchanges during ${id} ---\n${text}\n---`);
    if (process.env.INTEROP_TRACE_FILE) appendFileSync(process.env.INTEROP_TRACE_FILE, text + '\n');
}

/**
 * A fetch for the SDK (`StreamableHTTPClientTransport({ fetch })`, which also
 * hands it to `auth()`): records method, URL, request headers and body,
 * status, response headers and (unless a stream) response body.
 */
export function tracingFetch(trace, who = 'sdk') {
    return async (url, init = {}) => {
        const entry = {
            who,
            method: init.method ?? 'GET',
            url: String(url),
            request_headers: headersObject(init.headers),
            request_body: bodyText(init.body)
        };
        trace.push(entry);
        const res = await fetch(url, init);
        entry.status = res.status;
        entry.response_headers = Object.fromEntries(res.headers.entries());
        const type = res.headers.get('content-type') ?? '';
        if (!type.includes('text/event-stream')) {
            entry.response_body = (await res.clone().text()).slice(0, 4000);
        }
        return res;
    };
}

export const param = (body, name) => new URLSearchParams(body ?? '').get(name);

/** The exchanges matching a method and URL (string prefix or predicate). */
export function find(trace, method, url) {
    return trace.filter(e => e.method === method && (typeof url === 'function' ? url(e.url) : e.url.split('?')[0] === url));
}

// ---- scripted user agent ---------------------------------------------------

const decodeEntities = s =>
    s
        .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
        .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
        .replace(/&quot;/g, '"')
        .replace(/&#39;|&apos;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');

function attrs(tag) {
    const out = {};
    for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) out[m[1].toLowerCase()] = decodeEntities(m[2]);
    return out;
}

/** The first form of an HTML page: action, hidden fields, field names, buttons. */
export function parseForm(html) {
    const form = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
    if (!form) return undefined;
    const open = attrs(form[0].match(/<form\b[^>]*>/i)[0]);
    const hidden = {};
    const fields = [];
    for (const m of form[1].matchAll(/<input\b[^>]*>/gi)) {
        const a = attrs(m[0]);
        if (a.type === 'hidden') hidden[a.name] = a.value ?? '';
        else if (a.name) fields.push(a.name);
    }
    const buttons = [...form[1].matchAll(/<button\b[^>]*>/gi)].map(m => attrs(m[0])).filter(a => a.name);
    return { action: open.action ?? '', method: (open.method ?? 'get').toLowerCase(), hidden, fields, buttons };
}

/**
 * A browser stand-in: keeps cookies, follows redirects by hand, fills the
 * hub's login form and allows on its consent form, and stops at the first
 * redirect to the client's redirect URI (whose query it returns).
 */
export class UserAgent {
    constructor({ username, password, trace }) {
        this.username = username;
        this.password = password;
        this.trace = trace;
        this.cookies = new Map();
        this.fetch = tracingFetch(trace, 'user-agent');
    }

    cookieHeader() {
        return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }

    async request(method, url, form) {
        const headers = {};
        if (this.cookies.size) headers.cookie = this.cookieHeader();
        let body;
        if (form) {
            headers['content-type'] = 'application/x-www-form-urlencoded';
            body = new URLSearchParams(form).toString();
        }
        const res = await this.fetch(url, { method, headers, body, redirect: 'manual' });
        for (const c of res.headers.getSetCookie()) {
            const [pair] = c.split(';');
            const i = pair.indexOf('=');
            const name = pair.slice(0, i).trim();
            const value = pair.slice(i + 1).trim();
            if (/max-age=0\b/i.test(c) || value === '') this.cookies.delete(name);
            else this.cookies.set(name, value);
        }
        return res;
    }

    /**
     * Opens `authorizationUrl` and acts as the user until the hub redirects to
     * `redirectUri`. Returns { callback: URL, pages: ['login', 'consent', ...] }.
     */
    async authorize(authorizationUrl, redirectUri) {
        const target = new URL(redirectUri);
        const pages = [];
        let url = new URL(authorizationUrl);
        let res = await this.request('GET', url);
        for (let hop = 0; hop < 12; hop++) {
            if (res.status >= 300 && res.status < 400) {
                const location = res.headers.get('location');
                if (!location) throw new Error(`HTTP ${res.status} from ${url} without Location`);
                const next = new URL(location, url);
                if (next.origin === target.origin && next.pathname === target.pathname) {
                    return { callback: next, pages };
                }
                url = next;
                res = await this.request('GET', url);
                continue;
            }
            const html = await res.text();
            if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${url}: ${html.slice(0, 300)}`);
            const form = parseForm(html);
            if (!form) throw new Error(`page at ${url} has no form: ${html.slice(0, 300)}`);
            const action = new URL(form.action || url.href, url);
            if (form.fields.includes('username') && form.fields.includes('password')) {
                pages.push('login');
                res = await this.request('POST', action, { ...form.hidden, username: this.username, password: this.password });
            } else if (form.buttons.some(b => b.name === 'decision' && b.value === 'allow')) {
                pages.push('consent');
                res = await this.request('POST', action, { ...form.hidden, decision: 'allow' });
            } else {
                throw new Error(`unexpected form at ${url}: ${JSON.stringify(form)}`);
            }
            url = action;
        }
        throw new Error('too many hops before reaching the redirect URI');
    }
}

// ---- tokens ------------------------------------------------------------------

/** Checks an access token as a resource server would, and returns its claims. */
export async function verifyAccessToken(token, { issuer, audience, jwksUri }) {
    const header = decodeProtectedHeader(token);
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), {
        issuer,
        audience,
        typ: 'at+jwt'
    });
    return { header, payload };
}

export const claims = token => decodeJwt(token);

export const sleep = ms => new Promise(r => setTimeout(r, ms));

export const REAL_EXPIRY = process.env.INTEROP_REAL_EXPIRY === '1';

/**
 * Makes the current access token unusable at the MCP server: the server's
 * test hook marks every token it has accepted as expired, or, with `real`
 * (the caller passes REAL_EXPIRY, set by run.sh --real-expiry), wait out the
 * token's own `exp`.
 */
export async function expireAccessToken(mcpUrl, accessToken, real = false) {
    if (real) {
        const exp = claims(accessToken).exp;
        const wait = exp * 1000 - Date.now() + 1500;
        if (wait > 0) await sleep(wait);
        return `waited ${Math.round(wait / 1000)} s for exp`;
    }
    const res = await fetch(new URL('/_interop/expire', mcpUrl), { method: 'POST' });
    check(res.ok, `test hook answered ${res.status}`);
    return 'server test hook';
}

/** The `dcr-register` step: the SDK registered at the hub and got a public client. */
export function checkRegistration(trace, hubMeta, redirect, clientId) {
    check(hubMeta.registration_endpoint, "the hub's metadata names no registration_endpoint");
    const r = find(trace, 'POST', hubMeta.registration_endpoint)[0];
    check(r?.status === 201, `POST ${hubMeta.registration_endpoint}: ${r?.status ?? 'not sent'} ${r?.response_body ?? ''}`);
    const sent = JSON.parse(r.request_body);
    const answer = JSON.parse(r.response_body);
    check(JSON.stringify(sent.redirect_uris) === JSON.stringify([redirect]), `redirect_uris sent ${sent.redirect_uris}`);
    check(answer.token_endpoint_auth_method === 'none', `registered as ${answer.token_endpoint_auth_method}`);
    check(answer.client_id === clientId && clientId.startsWith('dcr-'), `client_id ${answer.client_id}`);
    return `201 client_id=${clientId} token_endpoint_auth_method=none`;
}

/** The `cimd-client-id` step: the SDK used its metadata document's URL and did not register. */
export function checkMetadataClientId(trace, hubMeta, clientId, url) {
    check(hubMeta.client_id_metadata_document_supported === true, 'the hub does not advertise client_id_metadata_document_supported');
    check(clientId === url, `client_id ${clientId}, expected the document URL`);
    const posts = hubMeta.registration_endpoint ? find(trace, 'POST', hubMeta.registration_endpoint) : [];
    check(posts.length === 0, 'the SDK registered although the hub takes metadata documents');
    return `client_id=${clientId} (no registration)`;
}
