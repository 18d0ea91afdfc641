use crate::common::*;
use keyward_core::ErrorCode;
use keyward_core::grant::authenticate::{Presented, authenticate};
use keyward_core::grant::client_credentials::{ClientCredentialsRequest, Grant, client_credentials};
use keyward_core::model::{AuthMethod, Effect};
use keyward_core::secret::{ClientSecrets, SecretDigest};
use keyward_core::{OAuthError, UnixTime};

fn hub() -> keyward_core::Compiled {
    let mut post = client("agents", "poster").id("poster").may("shop", "orders", &["read"]);
    post.auth_method = AuthMethod::ClientSecretPost;
    let mut rotating = client("agents", "rotating").id("rotating");
    rotating.secret_name = "rot".into();
    let mut orders = api("shop", "orders", "https://api/orders", &["read", "write"]);
    orders.access_token_lifetime = Some(std::time::Duration::from_secs(600));
    let mut w = World::new()
        .resource(orders)
        .resource(api("shop", "docs", "https://docs/mcp", &["search"]))
        .resource(api("shop", "other", "https://other", &["x"]))
        .client(client("agents", "bot").id("bot").may("shop", "orders", &["read", "write"]).may(
            "shop",
            "docs",
            &["search"],
        ))
        .client(client("agents", "single").id("single").may("shop", "orders", &["read"]).tenants(&["acme"]).ttl(300))
        .client(client("agents", "multi").id("multi").may("shop", "orders", &["read"]).tenants(&["acme", "globex"]))
        .client(post)
        .client(rotating);
    let mut nogrant = client("agents", "nogrant").id("nogrant");
    nogrant.grants.client_credentials = None;
    w = w.client(nogrant);
    w.compile()
}

fn req<'a>(scope: Option<&'a str>, resources: &'a [&'a str], tenant: Option<&'a str>) -> ClientCredentialsRequest<'a> {
    ClientCredentialsRequest { scope, resources: resources.to_vec(), tenant }
}

fn run(
    c: &keyward_core::Compiled,
    id: &str,
    r: ClientCredentialsRequest<'_>,
) -> Result<(String, String, Option<String>, u64), OAuthError> {
    let client = c.snapshot.client(id).unwrap();
    client_credentials(&c.snapshot, client, &r, UnixTime(0), &mut ()).map(
        |Grant { resource, scope, tenant, lifetime, .. }| {
            (resource.identifier.to_string(), scope, tenant.map(str::to_owned), lifetime.as_secs())
        },
    )
}

fn err(r: Result<(String, String, Option<String>, u64), OAuthError>) -> (ErrorCode, String) {
    let e = r.unwrap_err();
    (e.code, e.description.into_owned())
}

#[test]
fn a_resource_and_scope_request_is_granted_with_the_resource_lifetime() {
    let c = hub();
    let (aud, scope, tenant, ttl) = run(&c, "bot", req(Some("write read"), &["https://api/orders"], None)).unwrap();
    assert_eq!((aud.as_str(), scope.as_str(), tenant, ttl), ("https://api/orders", "write read", None, 600));
}

#[test]
fn the_shorter_of_client_and_resource_lifetimes_wins() {
    let c = hub();
    assert_eq!(run(&c, "single", req(None, &[], None)).unwrap().3, 300);
}

#[test]
fn a_client_with_several_resources_must_name_one() {
    let c = hub();
    assert_eq!(
        err(run(&c, "bot", req(None, &[], None))),
        (ErrorCode::InvalidTarget, "resource is required: this client may request several resources".into())
    );
}

#[test]
fn a_client_with_one_resource_gets_it_by_default() {
    let c = hub();
    assert_eq!(run(&c, "single", req(None, &[], None)).unwrap().0, "https://api/orders");
}

#[test]
fn resource_errors_are_invalid_target_with_the_reason() {
    let c = hub();
    let cases: [(&[&str], &str); 5] = [
        (&["https://nowhere"], "unknown resource 'https://nowhere'"),
        (&["https://other"], "this client may not request resource 'https://other'"),
        (&["not a uri"], "resource must be an absolute URI without a fragment"),
        (&["https://api/orders#frag"], "resource must be an absolute URI without a fragment"),
        (&["https://api/orders", "https://docs/mcp"], "only one resource per token request is supported"),
    ];
    for (resources, msg) in cases {
        assert_eq!(
            err(run(&c, "bot", req(None, resources, None))),
            (ErrorCode::InvalidTarget, msg.into()),
            "{resources:?}"
        );
    }
}

#[test]
fn scope_errors_are_invalid_scope_with_the_reason() {
    let c = hub();
    let orders: &[&str] = &["https://api/orders"];
    assert_eq!(
        err(run(&c, "bot", req(Some("read  write"), orders, None))),
        (ErrorCode::InvalidScope, "scope is malformed (RFC 6749 section 3.3)".into())
    );
    assert_eq!(
        err(run(&c, "bot", req(Some("read admin"), orders, None))),
        (ErrorCode::InvalidScope, "scope 'admin' is not defined by resource 'https://api/orders'".into())
    );
    assert_eq!(
        err(run(&c, "single", req(Some("write"), orders, None))),
        (ErrorCode::InvalidScope, "none of the requested scopes may be granted to this client".into())
    );
}

#[test]
fn a_partly_allowed_request_is_narrowed() {
    let c = hub();
    assert_eq!(run(&c, "single", req(Some("read write"), &["https://api/orders"], None)).unwrap().1, "read");
}

#[test]
fn tenants_are_checked_against_allowed_tenants() {
    let c = hub();
    assert_eq!(run(&c, "single", req(None, &[], None)).unwrap().2.as_deref(), Some("acme"));
    assert_eq!(run(&c, "multi", req(None, &[], Some("globex"))).unwrap().2.as_deref(), Some("globex"));
    assert_eq!(
        run(&c, "bot", req(None, &["https://api/orders"], Some("anyone"))).unwrap().2.as_deref(),
        Some("anyone")
    );
    assert_eq!(
        err(run(&c, "multi", req(None, &[], None))),
        (ErrorCode::InvalidRequest, "tenant is required: this client is limited to several tenants".into())
    );
    assert_eq!(
        err(run(&c, "multi", req(None, &[], Some("initech")))),
        (ErrorCode::InvalidRequest, "tenant 'initech' is not allowed for this client".into())
    );
    assert_eq!(
        err(run(&c, "multi", req(None, &[], Some("a b")))),
        (ErrorCode::InvalidRequest, "tenant is malformed".into())
    );
}

#[test]
fn a_client_without_the_grant_is_unauthorized_client() {
    let c = hub();
    assert_eq!(
        err(run(&c, "nogrant", req(None, &[], None))),
        (ErrorCode::UnauthorizedClient, "client_credentials is not enabled for this client".into())
    );
}

#[test]
fn a_deny_policy_that_removes_everything_requested_is_invalid_scope() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["read"]))
        .client(client("agents", "bot").id("bot").may("shop", "orders", &["read"]))
        .policy(policy("shop", "no", Effect::Deny, &["read"]))
        .compile();
    assert_eq!(err(run(&c, "bot", req(None, &[], None))).0, ErrorCode::InvalidScope);
}

#[test]
fn an_audience_only_association_gets_a_token_without_scope() {
    let c = World::new()
        .resource(api("shop", "mcp", "https://mcp", &["x"]))
        .client(client("agents", "bot").id("bot").may("shop", "mcp", &[]))
        .compile();
    assert_eq!(run(&c, "bot", req(None, &[], None)).unwrap().1, "");
}

fn d(n: u8) -> SecretDigest {
    SecretDigest([n; 32])
}

#[test]
fn authentication_checks_method_and_secret() {
    let c = hub();
    let now = UnixTime(0);
    let ok = authenticate(&c.snapshot, &Presented::Basic { client_id: "bot", secret: d(1) }, now);
    assert_eq!(&*ok.unwrap().client_id, "bot");
    let cases = [
        (Presented::Nothing, "client authentication is required"),
        (Presented::Basic { client_id: "ghost", secret: d(1) }, "unknown client 'ghost'"),
        (Presented::Basic { client_id: "bot", secret: d(2) }, "client authentication failed"),
        (
            Presented::Post { client_id: "bot", secret: d(1) },
            "client is registered for client_secret_basic, not client_secret_post",
        ),
        (
            Presented::Basic { client_id: "poster", secret: d(1) },
            "client is registered for client_secret_post, not client_secret_basic",
        ),
        (Presented::IdOnly { client_id: "bot" }, "client_secret is required"),
    ];
    for (p, msg) in cases {
        let e = authenticate(&c.snapshot, &p, now).unwrap_err();
        assert_eq!((e.code, e.description.as_ref()), (ErrorCode::InvalidClient, msg), "{p:?}");
    }
}

#[test]
fn a_rotated_secret_works_for_its_grace_period_only() {
    let mut w = World::new().client(client("agents", "bot").id("bot"));
    w.no_secret_for.push(keyward_core::model::ObjectKey::new("agents", "bot"));
    let mut input_secrets = std::collections::HashMap::new();
    input_secrets.insert(
        keyward_core::model::ObjectKey::new("agents", "bot-credentials"),
        ClientSecrets { current: d(2), previous: Some((d(1), UnixTime(100))) },
    );
    let compiled = keyward_core::compile(keyward_core::CompileInput {
        settings: keyward_core::snapshot::HubSettings {
            issuer: ISSUER.into(),
            defaults: Default::default(),
            runtime: Default::default(),
        },
        clients: w.clients,
        resources: vec![],
        policies: vec![],
        secrets: input_secrets,
        identity_providers: vec![],
        passwords: Default::default(),
        default_identity_provider: None,
        invalid: Default::default(),
    });
    let s = &compiled.snapshot;
    assert!(authenticate(s, &Presented::Basic { client_id: "bot", secret: d(2) }, UnixTime(500)).is_ok());
    assert!(authenticate(s, &Presented::Basic { client_id: "bot", secret: d(1) }, UnixTime(99)).is_ok());
    assert!(authenticate(s, &Presented::Basic { client_id: "bot", secret: d(1) }, UnixTime(100)).is_err());
}

#[test]
fn a_resource_at_the_root_of_its_origin_answers_to_both_spellings_with_its_declared_audience() {
    let c = World::new()
        .resource(api("shop", "root", "http://127.0.0.1:18099", &["x"]))
        .resource(api("shop", "slashed", "https://mcp.example/", &["y"]))
        .client(client("agents", "bot").id("bot").may("shop", "root", &["x"]).may("shop", "slashed", &["y"]))
        .compile();
    for asked in ["http://127.0.0.1:18099", "http://127.0.0.1:18099/"] {
        assert_eq!(run(&c, "bot", req(None, &[asked], None)).unwrap().0, "http://127.0.0.1:18099", "{asked}");
    }
    for asked in ["https://mcp.example", "https://mcp.example/"] {
        assert_eq!(run(&c, "bot", req(None, &[asked], None)).unwrap().0, "https://mcp.example/", "{asked}");
    }
    // A path is never folded.
    assert_eq!(err(run(&c, "bot", req(None, &["https://mcp.example/mcp/"], None))).0, ErrorCode::InvalidTarget);
}
