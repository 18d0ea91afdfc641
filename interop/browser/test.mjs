// A person in a real browser (Debian's chromium, headless, driven by
// playwright-core) signs in on the hub's pages, consents, and the browser
// lands on the client's redirect URI with the code. What scripted HTTP
// clients cannot see shows up here: a Content-Security-Policy whose
// form-action blocks the redirect after the consent form post, a cookie the
// browser refuses, a page that needs JavaScript.
//
// Started by run.sh, which runs the hub and the callback server (callback.mjs).
// Environment:
//   HUB_ISSUER   the hub, http://127.0.0.1:PORT
//   CB_PORT      the callback server's port (redirect URI http://127.0.0.1:CB_PORT/callback)
//   CB_LOG       the callback server's request log (JSON lines)
//   BROWSER_OUT  where to write trace.jsonl, console.jsonl and screenshots
//   CHROMIUM     the browser (default /usr/bin/chromium)
//
// Prints `PASS browser <check>` or `FAIL browser <check>: <reason>` per check,
// lines starting with `#` for information, and a closing
// `browser: N passed, N failed`; exits 1 if any check failed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const need = (k) => process.env[k] || (console.error(`test.mjs: set ${k}`), process.exit(2));
const ISSUER = need('HUB_ISSUER').replace(/\/$/, '');
const CB_PORT = need('CB_PORT');
const CB_LOG = need('CB_LOG');
const OUT = process.env.BROWSER_OUT || fs.mkdtempSync('/tmp/keyward-browser-out.');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CLIENT_ID = 'orders-desktop';
const REDIRECT_URI = `http://127.0.0.1:${CB_PORT}/callback`;
const RESOURCE = 'https://api.example.internal/orders';
const SCOPE = 'orders:read openid profile';
const USERS = { alice: 'alice-demo-password', bob: 'bob-demo-password' };
const WAIT = 10_000;
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

fs.mkdirSync(path.join(OUT, 'screens'), { recursive: true });
const traceFile = path.join(OUT, 'trace.jsonl');
const consoleFile = path.join(OUT, 'console.jsonl');
const writeLine = (f, o) => fs.appendFileSync(f, JSON.stringify(o) + '\n');

// ---- results -----------------------------------------------------------------
let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`PASS browser ${name}`);
  } catch (e) {
    failed++;
    const reason = String(e?.message ?? e).split('\n').filter(Boolean).slice(0, 6).join(' | ');
    console.log(`FAIL browser ${name}: ${reason}`);
  }
  writeLine(traceFile, { check: name, ms: Date.now() - t0 });
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---- helpers -----------------------------------------------------------------
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const enc = encodeURIComponent;

// extra: more query parameters, such as prompt=consent for a person whose
// consent the hub already remembers.
function newAuthorization(extra = '') {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(12));
  const url =
    `${ISSUER}/authorize?response_type=code&client_id=${enc(CLIENT_ID)}` +
    `&redirect_uri=${enc(REDIRECT_URI)}&code_challenge=${challenge}&code_challenge_method=S256` +
    `&state=${state}&resource=${enc(RESOURCE)}&scope=${enc(SCOPE)}${extra}`;
  return { verifier, state, url };
}

// Everything a page says about itself: console messages (including the ones
// Chromium itself writes, such as CSP refusals), uncaught errors, failed
// requests, and every response with its headers.
const events = []; // {ctx, kind, type, text, url}
function watch(context, ctx) {
  context.on('page', (page) => watchPage(page, ctx));
}
function watchPage(page, ctx) {
  const push = (e) => {
    const ev = { ctx, url: page.url(), ...e };
    events.push(ev);
    writeLine(consoleFile, ev);
  };
  page.on('console', (m) => push({ kind: 'console', type: m.type(), text: m.text(), at: m.location()?.url }));
  page.on('pageerror', (e) => push({ kind: 'pageerror', type: 'error', text: String(e) }));
  page.on('requestfailed', (r) =>
    push({ kind: 'requestfailed', type: 'error', text: `${r.method()} ${r.url()}: ${r.failure()?.errorText}` }),
  );
  page.on('response', async (r) => {
    const req = r.request();
    let headers = {};
    let requestHeaders = {};
    try {
      requestHeaders = await req.allHeaders();
      headers = await r.allHeaders();
    } catch {}
    writeLine(traceFile, {
      ctx, method: req.method(), url: r.url(), status: r.status(), requestHeaders, headers,
      postData: req.method() === 'POST' ? redact(req.postData()) : undefined,
    });
  });
}
const redact = (body) => body && body.replace(/(password=)[^&]*/, '$1***');

// The page reports each CSP violation it sees as a console error.
const INIT_SCRIPT = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('securitypolicyviolation ' + JSON.stringify({
    violatedDirective: e.violatedDirective, effectiveDirective: e.effectiveDirective,
    blockedURI: e.blockedURI, documentURI: e.documentURI, disposition: e.disposition }));
}, true);`;

async function newContext(browser, ctx, opts = {}) {
  const context = await browser.newContext(opts);
  if (opts.javaScriptEnabled !== false) await context.addInitScript(INIT_SCRIPT);
  watch(context, ctx);
  context.setDefaultTimeout(WAIT);
  return context;
}

const problems = (ctx) =>
  events.filter((e) => e.ctx === ctx && (e.type === 'error' || e.type === 'warning'));
const fmt = (evs) =>
  evs.map((e) => `[${e.kind}/${e.type} on ${e.url}${e.at && e.at !== e.url ? `, from ${e.at}` : ''}] ${e.text}`).join(' || ');

let shot = 0;
async function screenshot(page, label) {
  try {
    await page.screenshot({ path: path.join(OUT, 'screens', `${String(++shot).padStart(2, '0')}-${label}.png`), fullPage: true });
  } catch {}
}

function callbackRequests(state) {
  let lines = [];
  try {
    lines = fs.readFileSync(CB_LOG, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {}
  return lines.filter((r) => {
    const u = new URL(r.url, REDIRECT_URI);
    return u.pathname === '/callback' && u.searchParams.get('state') === state;
  });
}

// Open /authorize; expect the login page.
async function openLogin(page, auth, ctx) {
  const resp = await page.goto(auth.url, { waitUntil: 'load' });
  const u = new URL(page.url());
  assert(
    u.origin === ISSUER && u.pathname === '/login' && u.searchParams.get('flow'),
    `expected ${ISSUER}/login?flow=..., browser is on ${page.url()} (HTTP ${resp?.status()})`,
  );
  await screenshot(page, `${ctx}-login`);
}

async function signIn(page, user, password, ctx) {
  await page.locator('input[name="username"]').fill(user);
  await page.locator('input[name="password"][type="password"]').fill(password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await screenshot(page, `${ctx}-after-sign-in`);
}

async function expectConsent(page) {
  const allow = page.locator('button[name="decision"][value="allow"]');
  const deny = page.locator('button[name="decision"][value="deny"]');
  const title = await page.title();
  assert(
    (await allow.count()) === 1 && (await deny.count()) === 1,
    `no consent page after sign-in: browser is on ${page.url()}, title "${title}", text: ` +
      (await page.locator('body').innerText()).slice(0, 200).replace(/\s+/g, ' '),
  );
  assert((await allow.innerText()).trim() === 'Allow', 'the allow button does not read "Allow"');
  assert((await deny.innerText()).trim() === 'Deny', 'the deny button does not read "Deny"');
}

// Click Allow or Deny and wait until the browser is on the redirect URI.
async function decide(page, decision, auth, ctx) {
  const label = decision === 'allow' ? 'Allow' : 'Deny';
  await page.getByRole('button', { name: label, exact: true }).click({ noWaitAfter: true });
  try {
    await page.waitForURL((u) => u.href.startsWith(REDIRECT_URI), { timeout: WAIT, waitUntil: 'load' });
  } catch {
    await page.waitForTimeout(500);
    await screenshot(page, `${ctx}-${decision}-not-landed`);
    const seen = callbackRequests(auth.state).length;
    throw new Error(
      `after ${label} the browser is on ${page.url()}, not ${REDIRECT_URI} ` +
        `(callback server saw ${seen} request(s) for this state); console: ${fmt(problems(ctx)) || 'nothing'}`,
    );
  }
  await screenshot(page, `${ctx}-${decision}-landed`);
  const landed = new URL(page.url());
  const q = Object.fromEntries(landed.searchParams);
  assert(q.state === auth.state, `state on landing is ${q.state}, sent ${auth.state}`);
  assert(q.iss === ISSUER, `iss on landing is ${q.iss}, want ${ISSUER}`);
  const heading = await page.locator('h1').innerText();
  if (ctx !== 'no-js') {
    const js = await page.locator('#js').innerText();
    assert(js === 'script ran', `the callback page's script did not run in a JS-on context (#js reads "${js}")`);
  }
  assert(heading === 'Callback received', `the callback page did not render (h1 "${heading}")`);
  const seen = callbackRequests(auth.state);
  assert(seen.length === 1, `callback server saw ${seen.length} request(s) with this state, want 1`);
  assert(seen[0].method === 'GET', `callback server saw ${seen[0].method}, want GET`);
  const sq = Object.fromEntries(new URL(seen[0].url, REDIRECT_URI).searchParams);
  assert(JSON.stringify(sq) === JSON.stringify(q), `the callback server saw ${seen[0].url}, the browser is on ${page.url()}`);
  return q;
}

async function exchange(code, auth) {
  const body = new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI,
    code_verifier: auth.verifier, client_id: CLIENT_ID,
  });
  const r = await fetch(`${ISSUER}/token`, {
    method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const text = await r.text();
  writeLine(traceFile, { ctx: 'token', method: 'POST', url: `${ISSUER}/token`, status: r.status, body: text.slice(0, 400) });
  assert(r.status === 200, `/token answered ${r.status}: ${text.slice(0, 300)}`);
  const j = JSON.parse(text);
  assert(typeof j.access_token === 'string' && j.access_token.length > 20, 'no access_token');
  assert(typeof j.refresh_token === 'string' && j.refresh_token.length > 20, 'no refresh_token');
  assert(/^bearer$/i.test(j.token_type), `token_type ${j.token_type}`);
  const claims = JSON.parse(Buffer.from(j.access_token.split('.')[1] ?? '', 'base64url').toString() || '{}');
  return { tokens: j, claims };
}

// ---- the run -----------------------------------------------------------------
const t0 = Date.now();
// Every action below has its own timeout; this bounds the whole run too.
setTimeout(() => {
  console.log('FAIL browser run: did not finish within 180 s');
  console.log(`browser: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 180_000).unref();
let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
} catch (e) {
  console.log(`FAIL browser launch: ${String(e?.message ?? e).split('\n')[0]}`);
  console.log('browser: 0 passed, 1 failed');
  process.exit(1);
}
console.log(`# ${CHROMIUM}: ${browser.version()}; playwright-core ${JSON.parse(fs.readFileSync(new URL('./node_modules/playwright-core/package.json', import.meta.url))).version}`);
console.log(`# hub ${ISSUER}, redirect URI ${REDIRECT_URI}`);

// 1. Alice signs in and allows, with JavaScript on.
const ctxA = await newContext(browser, 'allow');
const pageA = await ctxA.newPage();
const authA = newAuthorization();
let landedA = null;
await check('login page', async () => {
  await openLogin(pageA, authA, 'allow');
  assert((await pageA.locator('input[name="username"]').count()) === 1, 'no username field');
  assert((await pageA.locator('input[name="password"][type="password"]').count()) === 1, 'no password field');
  assert((await pageA.getByRole('button', { name: 'Sign in' }).count()) === 1, 'no "Sign in" button');
  // The hub's stylesheet applied (CSP style-src 'self'): the body has a background.
  const bg = await pageA.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor);
  assert(bg && bg !== 'rgba(0, 0, 0, 0)', `the stylesheet did not apply (body background ${bg})`);
});
await check('consent page', async () => {
  assert(new URL(pageA.url()).pathname === '/login', 'not on the login page');
  await signIn(pageA, 'alice', USERS.alice, 'allow');
  await expectConsent(pageA);
  const text = await pageA.locator('main').innerText();
  for (const want of ['Orders desktop app', 'Alice Liddell', 'orders:read', RESOURCE]) {
    assert(text.includes(want), `the consent page does not mention ${want}`);
  }
});
await check('allow lands on the callback with the code', async () => {
  await expectConsent(pageA);
  landedA = await decide(pageA, 'allow', authA, 'allow');
  assert(landedA.code, `no code on landing: ${pageA.url()}`);
  assert(!landedA.error, `error on landing: ${landedA.error}`);
});
await check('token exchange', async () => {
  assert(landedA?.code, 'no code: allow did not land');
  const { tokens, claims } = await exchange(landedA.code, authA);
  assert(claims.aud === RESOURCE || (Array.isArray(claims.aud) && claims.aud.includes(RESOURCE)), `aud ${JSON.stringify(claims.aud)}`);
  assert(claims.client_id === CLIENT_ID, `client_id ${claims.client_id}`);
  assert(String(claims.scope ?? '').split(' ').includes('orders:read'), `scope ${claims.scope}`);
  assert(typeof tokens.id_token === 'string', 'no id_token for scope openid');
});
await check('cookies accepted', async () => {
  const cookies = await ctxA.cookies(ISSUER);
  const names = cookies.map((c) => c.name);
  for (const want of ['keyward-browser', 'keyward-session']) {
    const c = cookies.find((x) => x.name === want);
    assert(c, `the browser holds no ${want} cookie for ${ISSUER} (it holds: ${names.join(', ') || 'none'})`);
    assert(c.httpOnly && c.sameSite === 'Lax' && c.path === '/', `${want}: ${JSON.stringify(c)}`);
  }
});
await check('session reuse: a second authorization skips the login page', async () => {
  assert(landedA, 'needs a signed-in browser, and allow did not land');
  const auth = newAuthorization();
  const visited = [];
  const onNav = (f) => f === pageA.mainFrame() && visited.push(f.url());
  pageA.on('framenavigated', onNav);
  await pageA.goto(auth.url, { waitUntil: 'load' });
  const u = new URL(pageA.url());
  assert(!(u.origin === ISSUER && u.pathname === '/login'), `the signed-in browser got the login page again: ${pageA.url()}`);
  if (!pageA.url().startsWith(REDIRECT_URI)) {
    await expectConsent(pageA); // consent not remembered: ask again
    await decide(pageA, 'allow', auth, 'allow');
  }
  pageA.off('framenavigated', onNav);
  const q = Object.fromEntries(new URL(pageA.url()).searchParams);
  assert(pageA.url().startsWith(REDIRECT_URI) && q.code && q.state === auth.state, `did not land with a code: ${pageA.url()}`);
  assert(q.iss === ISSUER, `iss on landing is ${q.iss}`);
  assert(callbackRequests(auth.state).length === 1, 'the callback server did not see the landing');
  console.log(`# session reuse went through: ${visited.map((v) => new URL(v).pathname).join(' -> ')}`);
});

// 2. Bob signs in and denies.
const ctxD = await newContext(browser, 'deny');
const pageD = await ctxD.newPage();
await check('deny lands on the callback with access_denied', async () => {
  const auth = newAuthorization();
  await openLogin(pageD, auth, 'deny');
  await signIn(pageD, 'bob', USERS.bob, 'deny');
  await expectConsent(pageD);
  const q = await decide(pageD, 'deny', auth, 'deny');
  assert(q.error === 'access_denied', `error on landing is ${q.error}: ${pageD.url()}`);
  assert(!q.code, 'a code came with the denial');
});

// 3. A wrong password.
const ctxW = await newContext(browser, 'wrong-password');
const pageW = await ctxW.newPage();
await check('wrong password', async () => {
  const auth = newAuthorization();
  await openLogin(pageW, auth, 'wrong-password');
  await signIn(pageW, 'alice', 'not-the-password', 'wrong-password');
  const u = new URL(pageW.url());
  assert(u.origin === ISSUER && u.pathname === '/login', `after a wrong password the browser is on ${pageW.url()}`);
  const alert = pageW.getByText('Wrong username or password.', { exact: true });
  assert((await alert.count()) === 1, `no "Wrong username or password." on the page: ${(await pageW.locator('body').innerText()).slice(0, 200).replace(/\s+/g, ' ')}`);
  assert((await pageW.locator('input[name="password"][type="password"]').count()) === 1, 'no password field to try again');
  assert(callbackRequests(auth.state).length === 0, 'the callback server was reached');
  // The person tries again on the same page and gets on: to the consent page,
  // or (alice already allowed this client above) straight to the callback.
  await signIn(pageW, 'alice', USERS.alice, 'wrong-password-retry');
  if (!pageW.url().startsWith(REDIRECT_URI)) await expectConsent(pageW);
});

// 4. JavaScript off: plain HTML forms all the way.
const ctxN = await newContext(browser, 'no-js', { javaScriptEnabled: false });
const pageN = await ctxN.newPage();
await check('javascript disabled: login and allow land on the callback', async () => {
  const auth = newAuthorization('&prompt=consent'); // alice allowed above: ask again
  await openLogin(pageN, auth, 'no-js');
  await signIn(pageN, 'alice', USERS.alice, 'no-js');
  await expectConsent(pageN);
  const q = await decide(pageN, 'allow', auth, 'no-js');
  assert(q.code, `no code on landing: ${pageN.url()}`);
  await exchange(q.code, auth);
  // The callback page has an inline script that rewrites #js: it must not
  // have run, or this context was not what it claims.
  const js = await pageN.locator('#js').innerText();
  assert(js === 'no script ran', `JavaScript ran in the JS-off context (#js reads "${js}")`);
});

// 5. What the browser said on the login and consent pages of all the flows
// above (not the controls, which break the CSP on purpose).
const FLOWS = ['allow', 'deny', 'wrong-password', 'no-js'];
const isCsp = (e) => /Content Security Policy|securitypolicyviolation/.test(e.text) || /: csp$/.test(e.text);
// The wrong-password page is answered with HTTP 401 on purpose, and Chromium
// echoes any non-2xx document status as "Failed to load resource": that one
// line is the page's own status, shown as information, not counted.
const isWrongPasswordStatus = (e) =>
  e.ctx === 'wrong-password' && /status of 401/.test(e.text) && new URL(e.at || e.url).pathname === '/login';
await check('no CSP violations (login, consent)', async () => {
  const bad = FLOWS.flatMap(problems).filter(isCsp);
  assert(bad.length === 0, fmt(bad));
});
await check('no console errors (login, consent)', async () => {
  const all = FLOWS.flatMap(problems).filter((e) => !isCsp(e));
  for (const e of all.filter(isWrongPasswordStatus)) console.log(`# not counted: ${fmt([e])}`);
  const bad = all.filter((e) => !isWrongPasswordStatus(e));
  assert(bad.length === 0, fmt(bad));
});

// 6. Controls: the checks above can fail.
// (a) The CSP watcher sees a violation: an image from a non-https, non-self
// origin on the login page breaks img-src.
const ctxC = await newContext(browser, 'control-csp');
const pageC = await ctxC.newPage();
await check('control: a CSP violation on the login page is seen', async () => {
  const auth = newAuthorization();
  await openLogin(pageC, auth, 'control-csp');
  await pageC.evaluate((src) => {
    const i = document.createElement('img');
    i.src = src;
    document.body.append(i);
  }, `http://127.0.0.1:${CB_PORT}/control.png`);
  await pageC.waitForTimeout(500);
  const seen = problems('control-csp');
  assert(seen.some((e) => /securitypolicyviolation.*img-src/.test(e.text)), `no securitypolicyviolation event: ${fmt(seen) || 'nothing'}`);
});
// (b) Chromium applies form-action to the redirect after the consent post:
// the same consent page with `form-action 'self'` only (the redirect origin
// taken out of the hub's header) must NOT land.
const ctxF = await newContext(browser, 'control-form-action');
const pageF = await ctxF.newPage();
await check("control: form-action without the redirect origin blocks the landing", async () => {
  const auth = newAuthorization('&prompt=consent');
  let rewritten = null;
  await pageF.route(
    (u) => u.origin === ISSUER && u.pathname === '/login',
    async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const resp = await route.fetch({ maxRedirects: 0 });
      const headers = { ...resp.headers() };
      if (headers['content-security-policy']) {
        headers['content-security-policy'] = headers['content-security-policy'].replace(/form-action [^;]*/, "form-action 'self'");
        rewritten = headers['content-security-policy'];
      }
      await route.fulfill({ response: resp, headers });
    },
  );
  await openLogin(pageF, auth, 'control-form-action');
  await signIn(pageF, 'alice', USERS.alice, 'control-form-action');
  await expectConsent(pageF);
  assert(rewritten, 'the consent page had no CSP to rewrite');
  await pageF.getByRole('button', { name: 'Allow', exact: true }).click({ noWaitAfter: true });
  await pageF.waitForTimeout(2000);
  await screenshot(pageF, 'control-form-action-after-allow');
  assert(!pageF.url().startsWith(REDIRECT_URI), `landed anyway: ${pageF.url()} (CSP was: ${rewritten})`);
  assert(callbackRequests(auth.state).length === 0, 'the callback server was reached');
  const seen = problems('control-form-action');
  assert(seen.some((e) => /form-action/.test(e.text)), `no form-action violation reported: ${fmt(seen) || 'nothing'}`);
  console.log(`# control: blocked as expected, browser on ${pageF.url()}: ${seen.find((e) => /form-action/.test(e.text)).text.trim().slice(0, 300)}`);
});

// A browser-based MCP client (an inspector, a single-page app) on another
// origin: the browser itself enforces CORS. Discovery, with the
// MCP-Protocol-Version header the SDKs send (a preflight), and registration
// (a JSON POST, preflighted too) must be readable from that origin; the
// sign-in pages must not be.
const ctxO = await newContext(browser, 'cross-origin');
await check('a page on another origin reads discovery and registers (CORS)', async () => {
  const page = await ctxO.newPage();
  await page.goto(`http://127.0.0.1:${CB_PORT}/healthz`);
  const got = await page.evaluate(async (issuer) => {
    const meta = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`, { headers: { 'MCP-Protocol-Version': '2025-11-25' } })).json();
    const r = await fetch(meta.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Browser app', redirect_uris: ['https://app.example/callback'] }),
    });
    let pages = 'readable';
    try {
      await fetch(`${issuer}/login?flow=x`);
    } catch {
      pages = 'blocked';
    }
    return { origin: location.origin, registration: meta.registration_endpoint, status: r.status, body: await r.json(), pages };
  }, ISSUER);
  assert(got.origin !== ISSUER, `the page is on the hub's origin (${got.origin})`);
  assert(got.status === 201, `registration answered ${got.status}: ${JSON.stringify(got.body)}`);
  assert(String(got.body.client_id).startsWith('dcr-'), `client_id ${got.body.client_id}`);
  assert(got.pages === 'blocked', 'the sign-in page was readable from another origin');
  console.log(`# from ${got.origin}: discovery read, registered ${got.body.client_id}; the pages stay closed to it`);
});

await browser.close();
const secs = ((Date.now() - t0) / 1000).toFixed(1);
console.log(`# browser checks took ${secs} s; trace, console log and screenshots in ${OUT}`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
