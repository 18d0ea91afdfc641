//! `keyward explain` as a user runs it: the binary on `examples/` (and on a
//! folder written here), its text and JSON output and its exit codes.

use std::process::Command;

const ORDERS: &str = "https://api.example.internal/orders";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn explain_in(dir: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["explain", "--manifests", dir])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn explain(args: &[&str]) -> Run {
    explain_in(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"), args)
}

#[track_caller]
fn assert_lines(r: &Run, lines: &[&str]) {
    for line in lines {
        assert!(r.stdout.contains(line), "missing {line:?} in:\n{}\nstderr: {}", r.stdout, r.stderr);
    }
}

#[test]
fn explain_shows_the_deny_that_removes_refunds_for_globex() {
    let r = explain(&["--client", "billing-agent", "--resource", ORDERS, "--tenant", "globex"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_lines(
        &r,
        &[
            "client       billing-agent (OAuthClient agents/billing-agent)",
            "resource     https://api.example.internal/orders (Resource shop/orders-api)",
            "catalog      orders:read orders:write orders:refund",
            "association  orders:read orders:write orders:refund (the client's spec.resources entry)",
            "applies   deny shop/no-agent-refunds-for-globex (orders:refund)",
            "skipped   deny shop/sandbox-workloads-read-only (orders:write orders:refund): spec.subjects is set and the token has no subject besides the client",
            "skipped   deny shop/refunds-need-the-finance-role (orders:refund): the request's grant is not in spec.grantTypes",
            "+ orders:write: granted, allowed by shop/agents-read-and-write-orders",
            "- orders:refund: denied by AccessPolicy shop/no-agent-refunds-for-globex",
            "granted      orders:read orders:write\n",
        ],
    );
}

#[test]
fn explain_for_acme_grants_refunds_through_the_second_allow() {
    let r =
        explain(&["--client", "billing-agent", "--resource", ORDERS, "--tenant", "acme", "--scope", "orders:refund"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_lines(
        &r,
        &[
            "skipped   deny shop/no-agent-refunds-for-globex (orders:refund): the request's tenant is not in spec.tenants",
            "+ orders:refund: granted, allowed by shop/billing-agent-refunds",
            "granted      orders:refund\n",
        ],
    );
}

#[test]
fn explain_exits_1_when_the_token_endpoint_would_refuse() {
    let r = explain(&["--client", "billing-agent", "--resource", ORDERS, "--tenant", "initech"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_lines(
        &r,
        &["refused      invalid_request: tenant 'initech' is not allowed for this client", "granted      nothing"],
    );
    let r = explain(&["--client", "support-agent", "--resource", ORDERS, "--scope", "orders:write"]);
    assert_eq!(r.code, 1);
    assert_lines(
        &r,
        &[
            "- orders:write: not in the client's spec.resources entry",
            "refused      invalid_scope: none of the requested scopes may be granted to this client",
        ],
    );
}

#[test]
fn explain_shows_a_subject_selector_at_work() {
    let r = explain(&[
        "--client",
        "report-generator",
        "--grant",
        "jwtBearer",
        "--subject",
        "system:serviceaccount:agents:report-generator",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_lines(
        &r,
        &[
            "request      grant jwtBearer, tenant (none), subject system:serviceaccount:agents:report-generator, roles (none)",
            "skipped   deny shop/sandbox-workloads-read-only (orders:write orders:refund): the subject is no service account spec.subjects.serviceAccounts names",
            "granted      orders:read\n",
        ],
    );
}

#[test]
fn explain_json_carries_the_same_decision() {
    let r = explain(&["--client", "billing-agent", "--resource", ORDERS, "--tenant", "globex", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["granted"], serde_json::json!(["orders:read", "orders:write"]));
    assert_eq!(v["request"]["grant"], "clientCredentials");
    assert_eq!(v["request"]["tenant"], "globex");
    assert_eq!(v["association"], serde_json::json!(["orders:read", "orders:write", "orders:refund"]));
    assert_eq!(v["resource"]["catalog"], serde_json::json!(["orders:read", "orders:write", "orders:refund"]));
    let refund = v["scopes"].as_array().unwrap().iter().find(|s| s["scope"] == "orders:refund").unwrap();
    assert_eq!(
        refund,
        &serde_json::json!({"scope": "orders:refund", "granted": false, "rule": "denied", "policies": ["shop/no-agent-refunds-for-globex"]})
    );
    let sandbox =
        v["policies"].as_array().unwrap().iter().find(|p| p["policy"] == "shop/sandbox-workloads-read-only").unwrap();
    assert_eq!(sandbox["outcome"], "skipped");
    assert_eq!(v["refused"], serde_json::Value::Null);
}

#[test]
fn explain_exits_2_on_an_unknown_client_or_grant() {
    let r = explain(&["--client", "nobody"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown client 'nobody'"), "{}", r.stderr);
    let r = explain(&["--client", "billing-agent", "--grant", "password"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown grant 'password'"), "{}", r.stderr);
    let r = explain_in("/nonexistent/keyward-explain", &["--client", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

const CONDITIONS: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: orders, namespace: shop}
spec:
  type: api
  identifier: https://api.example.test/orders
  displayName: Orders
  scopes: [{name: "orders:read"}, {name: "orders:refund"}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: assistant, namespace: agents}
spec:
  displayName: Assistant
  clientId: assistant
  grantTypes: {tokenExchange: {}}
  resources: [{name: orders, namespace: shop, scopes: ["orders:read", "orders:refund"]}]
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {name: refunds-need-finance, namespace: shop}
spec:
  effect: deny
  condition: "!('finance' in request.roles)"
  scopes: ["orders:refund"]
---
apiVersion: keyward.dev/v1alpha1
kind: AccessPolicy
metadata: {name: broken, namespace: shop}
spec:
  effect: deny
  condition: "request.tenat == 'globex'"
  scopes: ["orders:read"]
"#;

#[test]
fn explain_shows_conditions_and_a_policy_that_failed_closed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.yaml"), CONDITIONS).unwrap();
    let d = dir.path().to_str().unwrap();
    let base = ["--client", "assistant", "--grant", "tokenExchange", "--subject", "alice"];
    let r = explain_in(d, &[&base[..], &["--roles", "viewer,finance"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_lines(
        &r,
        &[
            "skipped   deny shop/refunds-need-finance (orders:refund): spec.condition is false",
            "failed    deny shop/broken (orders:read): denies as if the condition were true: the condition does not compile: line 1, column 8: request has no field 'tenat'",
            "- orders:read: denied by AccessPolicy shop/broken",
            "+ orders:refund: granted by the association",
            "note         AccessPolicy shop/broken is not Ready: spec.condition: line 1, column 8",
            "granted      orders:refund\n",
        ],
    );
    // Roles separated by spaces work as well as commas.
    let r = explain_in(d, &[&base[..], &["--roles", "viewer finance", "--scope", "orders:refund"]].concat());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_lines(&r, &["granted      orders:refund\n"]);
    let r = explain_in(d, &[&base[..], &["--roles", "viewer", "--scope", "orders:refund"]].concat());
    assert_eq!(r.code, 1);
    assert_lines(
        &r,
        &[
            "applies   deny shop/refunds-need-finance (orders:refund)",
            "- orders:refund: denied by AccessPolicy shop/refunds-need-finance",
        ],
    );
}
