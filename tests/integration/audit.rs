//! The audit trail: one JSON line per decision, with the request id the
//! response carried, the scopes removed and the rule that removed each; never
//! a token, secret or assertion, nor a client id nobody registered; and the
//! counters in `/metrics` say the same.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::issuer::TestIssuer;
use crate::jwt_bearer::HUB;
use crate::support::*;

const ORDERS: &str = "https://api.example.test/orders";
const DOCS: &str = "https://mcp.example.test/mcp";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A client id nobody registered: it must not reach the trail.
const STRANGER: &str = "intruder-canary-7f3a";

fn world(iss: &TestIssuer) -> String {
    format!(
        r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: orders, namespace: shop}}
spec:
  type: api
  identifier: {ORDERS}
  displayName: Orders
  scopes: [{{name: "orders:read"}}, {{name: "orders:write"}}]
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {{name: docs, namespace: shop}}
spec:
  type: mcpServer
  identifier: {DOCS}
  displayName: Docs
  scopes: [{{name: "docs:search"}}]
  introspection: {{clients: [{{name: mcp-server, namespace: agents}}]}}
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {{name: no-writes, namespace: shop}}
spec:
  effect: deny
  scopes: ["orders:write"]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: bot, namespace: agents}}
spec:
  displayName: Bot
  clientId: bot
  grantTypes: {{clientCredentials: {{}}}}
  resources:
    - {{name: orders, namespace: shop, scopes: ["orders:read", "orders:write"]}}
    - {{name: docs, namespace: shop, scopes: ["docs:search"]}}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: mcp-server, namespace: agents}}
spec:
  displayName: Docs MCP server
  clientId: mcp-server
  grantTypes:
    tokenExchange: {{}}
    jwtBearer: {{trustedIssuers: [{{issuer: '{good}', rejectReplay: false}}]}}
  resources: [{{name: orders, namespace: shop, scopes: ["orders:read"]}}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: ops, namespace: platform}}
spec:
  displayName: Platform operators
  clientId: ops
  tags: [keyward-admin]
"#,
        good = iss.issuer("good"),
    )
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// The line recorded under the response's request id.
fn line_of<'a>(trail: &'a [Value], reply: &Reply) -> &'a Value {
    let id = reply.header("x-request-id").expect("every response carries X-Request-Id");
    let found: Vec<&Value> = trail.iter().filter(|l| l["request_id"] == id).collect();
    assert_eq!(found.len(), 1, "one line for request {id}: {trail:#?}");
    found[0]
}

/// `field` of a line, with the time checked and left out.
fn without_time(line: &Value) -> Value {
    let mut l = line.clone();
    let time = l.as_object_mut().unwrap().remove("time").unwrap();
    let time = time.as_str().unwrap();
    assert!(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "RFC 3339 UTC: {time}");
    l.as_object_mut().unwrap().remove("request_id");
    l.as_object_mut().unwrap().remove("token_id");
    l
}

#[test]
fn every_decision_is_one_line_that_the_metrics_agree_with_and_that_holds_no_secret() {
    let trail = Captured::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (replies, secrets, metrics) = rt.block_on(async {
        let iss = TestIssuer::start().await;
        let h = hub().file("world.yaml", &world(&iss)).issuer(HUB).audit(&trail).start().await;
        let bot = h.secret("agents", "bot");
        let mcp = h.secret("agents", "mcp-server");
        let ops = h.secret("platform", "ops");
        let mut r = BTreeMap::new();
        let cc = [("grant_type", "client_credentials"), ("resource", ORDERS)];
        r.insert("cc", h.post("/token", Some(("bot", &bot)), &cc).await);
        r.insert("cc-bad-secret", h.post("/token", Some(("bot", "wrong-secret-canary")), &cc).await);
        r.insert("cc-stranger", h.post("/token", Some((STRANGER, "x")), &cc).await);
        r.insert("cc-scope", h.post("/token", Some(("bot", &bot)), &[cc[0], cc[1], ("scope", "orders:write")]).await);
        r.insert("unknown-grant", h.post("/token", Some(("bot", &bot)), &[("grant_type", "password")]).await);
        let docs = h.post("/token", Some(("bot", &bot)), &[cc[0], ("resource", DOCS)]).await;
        let docs_token = docs.body["access_token"].as_str().unwrap().to_owned();
        let now = h.now();
        let assertion = iss.sign(
            &json!({"alg": "ES256", "kid": "ec-1"}),
            &json!({"iss": iss.issuer("good"), "sub": "spiffe://test/agent", "aud": HUB, "iat": now, "exp": now + 300}),
        );
        let jb = [("grant_type", JWT_BEARER), ("client_id", "mcp-server"), ("assertion", assertion.as_str())];
        r.insert("jwt-bearer", h.post("/token", None, &jb).await);
        let stale = iss.sign(
            &json!({"alg": "ES256", "kid": "ec-1"}),
            &json!({"iss": iss.issuer("good"), "sub": "spiffe://test/agent", "aud": "https://elsewhere", "iat": now, "exp": now + 300}),
        );
        let jb_bad = [("grant_type", JWT_BEARER), ("client_id", "mcp-server"), ("assertion", stale.as_str())];
        r.insert("jwt-bearer-aud", h.post("/token", None, &jb_bad).await);
        let te = [
            ("grant_type", TE),
            ("subject_token", docs_token.as_str()),
            ("subject_token_type", AT),
            ("resource", ORDERS),
        ];
        r.insert("exchange", h.post("/token", Some(("mcp-server", &mcp)), &te).await);
        r.insert("introspect", h.post("/introspect", Some(("mcp-server", &mcp)), &[("token", &docs_token)]).await);
        r.insert("introspect-junk", h.post("/introspect", Some(("mcp-server", &mcp)), &[("token", "junk")]).await);
        r.insert("revoke", h.post("/revoke", Some(("bot", &bot)), &[("token", &docs_token)]).await);
        r.insert("revoke-again", h.post("/revoke", Some(("bot", &bot)), &[("token", "junk")]).await);
        let q = [("client", "bot"), ("resource", ORDERS)];
        r.insert("admin", h.post("/admin/explain", Some(("ops", &ops)), &q).await);
        r.insert("admin-denied", h.post("/admin/explain", Some(("bot", &bot)), &q).await);
        for (name, reply) in &r {
            assert!(reply.header("x-request-id").is_some(), "{name}: no X-Request-Id");
        }
        let mut secrets = vec![bot, mcp, ops, docs_token, assertion, stale, "wrong-secret-canary".to_owned()];
        for reply in r.values() {
            if let Some(t) = reply.body["access_token"].as_str() {
                secrets.push(t.to_owned());
            }
        }
        let metrics = h.get("/metrics").await.text;
        h.hub.unwrap().stop();
        (r, secrets, metrics)
    });
    let text = trail.text();
    let trail = lines(&text);

    // One line per request above, plus the docs token's.
    assert_eq!(trail.len(), replies.len() + 1, "{text}");
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a secret, token or assertion reached the trail:\n{text}");
    }
    assert!(!text.contains(STRANGER), "an unregistered client id reached the trail:\n{text}");

    let cc = without_time(line_of(&trail, &replies["cc"]));
    assert_eq!(
        cc,
        json!({
            "event": "token", "grant": "clientCredentials", "result": "issued", "client_id": "bot",
            "resource": ORDERS, "scope": "orders:read",
            "removed": [{"scope": "orders:write", "rule": "denied", "policies": ["shop/no-writes"]}],
        })
    );
    let id = replies["cc"].header("x-request-id").unwrap();
    assert_eq!(line_of(&trail, &replies["cc"])["request_id"], id);
    assert!(line_of(&trail, &replies["cc"])["token_id"].is_string());
    assert_eq!(
        without_time(line_of(&trail, &replies["cc-bad-secret"])),
        json!({"event": "token", "grant": "clientCredentials", "result": "invalid_client", "error": "invalid_client"})
    );
    assert_eq!(line_of(&trail, &replies["cc-stranger"])["error"], "invalid_client");
    assert_eq!(
        without_time(line_of(&trail, &replies["cc-scope"])),
        json!({
            "event": "token", "grant": "clientCredentials", "result": "invalid_scope", "error": "invalid_scope",
            "client_id": "bot",
            "removed": [{"scope": "orders:write", "rule": "denied", "policies": ["shop/no-writes"]}],
        })
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["unknown-grant"])),
        json!({"event": "token", "result": "unsupported_grant_type", "error": "unsupported_grant_type"})
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["jwt-bearer"])),
        json!({
            "event": "token", "grant": "jwtBearer", "result": "issued", "client_id": "mcp-server",
            "subject": "spiffe://test/agent", "resource": ORDERS, "scope": "orders:read",
        })
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["jwt-bearer-aud"])),
        json!({"event": "token", "grant": "jwtBearer", "result": "invalid_grant", "error": "invalid_grant", "client_id": "mcp-server"})
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["exchange"])),
        json!({
            "event": "token", "grant": "tokenExchange", "result": "issued", "client_id": "mcp-server",
            "subject": "bot", "resource": ORDERS, "scope": "orders:read",
        })
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["introspect"])),
        json!({
            "event": "introspection", "result": "active", "client_id": "mcp-server", "subject": "bot",
            "resource": DOCS, "scope": "docs:search", "token_client_id": "bot",
        })
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["introspect-junk"])),
        json!({"event": "introspection", "result": "inactive", "client_id": "mcp-server"})
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["revoke"])),
        json!({"event": "revocation", "result": "revoked", "client_id": "bot", "token_client_id": "bot"})
    );
    assert_eq!(line_of(&trail, &replies["revoke-again"])["result"], "ignored");
    assert_eq!(
        without_time(line_of(&trail, &replies["admin"])),
        json!({"event": "admin.explain", "result": "answered", "client_id": "ops", "resource": ORDERS, "explained_client_id": "bot"})
    );
    assert_eq!(
        without_time(line_of(&trail, &replies["admin-denied"])),
        json!({"event": "admin.explain", "result": "access_denied", "error": "access_denied", "client_id": "bot"})
    );

    // The counters agree with the trail, line for line.
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for l in &trail {
        let key = match l["event"].as_str().unwrap() {
            "token" => format!(
                r#"keyward_tokens_total{{grant="{}",result="{}"}}"#,
                l["grant"].as_str().unwrap_or("unknown"),
                l["result"].as_str().unwrap()
            ),
            event => format!(r#"keyward_requests_total{{event="{event}",result="{}"}}"#, l["result"].as_str().unwrap()),
        };
        *counted.entry(key).or_default() += 1;
    }
    for (series, n) in &counted {
        let line = format!("{series} {n}");
        assert!(metrics.lines().any(|l| l == line), "{line} missing from /metrics:\n{metrics}");
    }
    let total = |prefix: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(total("keyward_tokens_total{") + total("keyward_requests_total{"), trail.len() as u64, "{metrics}");
}

/// `keyward serve` writes the trail to stdout as JSON lines, apart from its
/// log on stderr.
#[tokio::test]
async fn keyward_serve_writes_the_trail_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("world.yaml"), WORLD).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let state = dir.path().join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--manifests"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let credentials = state.join("credentials/agents/bot-credentials.yaml");
    let http = reqwest::Client::new();
    while Instant::now() < deadline {
        let ready = http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200);
        if ready && credentials.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&credentials).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let secret = doc["stringData"]["client_secret"].as_str().unwrap().to_owned();
    let reply = http
        .post(format!("{base}/token"))
        .basic_auth("bot", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("resource", ORDERS)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let id = reply.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
    assert_eq!((v["event"].as_str(), v["result"].as_str()), (Some("token"), Some("issued")), "{line}");
    assert_eq!(v["request_id"], id.as_str());
}
