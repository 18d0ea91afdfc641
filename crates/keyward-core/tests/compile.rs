use crate::common::*;
use keyward_core::UnixTime;
use keyward_core::model::{Kind, ObjectKey};
use keyward_core::status::{ObjectStatus, Reason};

fn st<'a>(c: &'a keyward_core::Compiled, kind: Kind, ns: &str, name: &str) -> &'a ObjectStatus {
    c.status(kind, &ObjectKey::new(ns, name)).unwrap()
}

#[test]
fn a_valid_world_compiles_every_object_ready() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["r", "w"]))
        .client(client("agents", "bot").may("shop", "orders", &["r"]))
        .policy(policy("shop", "p", keyward_core::model::Effect::Allow, &["r"]))
        .compile();
    assert!(c.statuses.iter().all(|s| s.ready()), "{:?}", c.statuses);
    assert_eq!(c.statuses.len(), 3);
    let bot = c.snapshot.client("bot.agents").unwrap();
    assert_eq!(bot.associations.len(), 1);
    assert_eq!(bot.associations[0].policies.len(), 1);
    assert!(c.snapshot.resource("https://api/orders").is_some());
}

#[test]
fn a_client_without_explicit_id_gets_name_dot_namespace() {
    let c = World::new().client(client("agents", "bot")).compile();
    assert_eq!(st(&c, Kind::OAuthClient, "agents", "bot").client_id.as_deref(), Some("bot.agents"));
}

#[test]
fn a_dangling_resource_reference_rejects_only_that_client_with_its_path() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["r"]))
        .client(client("agents", "good").may("shop", "orders", &["r"]))
        .client(client("agents", "bad").may("shop", "orders", &["r"]).may("shop", "gone", &["x"]))
        .compile();
    let bad = st(&c, Kind::OAuthClient, "agents", "bad");
    assert_eq!(bad.problems[0].reason, Reason::ResourceNotFound);
    assert_eq!(bad.problems[0].field, "spec.resources[1].name");
    assert_eq!(bad.problems[0].message, "no Resource of this name exists");
    assert!(c.snapshot.client("bad.agents").is_none());
    assert!(c.snapshot.client("good.agents").is_some());
}

#[test]
fn a_scope_outside_the_catalog_is_rejected_at_its_index() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["r"]))
        .client(client("agents", "bot").may("shop", "orders", &["r", "admin"]))
        .compile();
    let p = &st(&c, Kind::OAuthClient, "agents", "bot").problems[0];
    assert_eq!(p.reason, Reason::ScopeNotInCatalog);
    assert_eq!(p.field, "spec.resources[0].scopes[1]");
    assert_eq!(p.message, "is not in the catalog of the Resource named at spec.resources[0].name");
}

#[test]
fn the_older_object_keeps_a_contested_client_id() {
    let mut old = client("b", "old").id("shared");
    old.meta.created = Some(UnixTime(10));
    let mut new = client("a", "new").id("shared");
    new.meta.created = Some(UnixTime(20));
    let c = World::new().client(new).client(old).compile();
    assert!(st(&c, Kind::OAuthClient, "b", "old").ready());
    let p = &st(&c, Kind::OAuthClient, "a", "new").problems[0];
    assert_eq!(p.reason, Reason::DuplicateClientId);
    assert_eq!(p.field, "spec.clientId");
    assert_eq!(p.message, "this client id is already used by OAuthClient b/old");
    assert_eq!(&*c.snapshot.client("shared").unwrap().key.name, "old");
}

#[test]
fn without_creation_times_the_lower_key_keeps_a_contested_identifier() {
    let c = World::new()
        .resource(api("z", "second", "https://same", &[]))
        .resource(api("a", "first", "https://same", &[]))
        .compile();
    assert!(st(&c, Kind::Resource, "a", "first").ready());
    let p = &st(&c, Kind::Resource, "z", "second").problems[0];
    assert_eq!(p.reason, Reason::DuplicateIdentifier);
    assert_eq!(p.message, "this identifier is already used by Resource a/first");
}

#[test]
fn a_client_of_a_rejected_resource_says_the_resource_is_not_ready() {
    let c = World::new()
        .resource(api("a", "first", "https://same", &["r"]))
        .resource(api("z", "second", "https://same", &["r"]))
        .client(client("agents", "bot").may("z", "second", &["r"]))
        .compile();
    assert_eq!(st(&c, Kind::OAuthClient, "agents", "bot").problems[0].message, "the Resource named here is not Ready");
}

#[test]
fn a_missing_secret_is_secret_pending() {
    let mut w = World::new().client(client("agents", "bot"));
    w.no_secret_for.push(ObjectKey::new("agents", "bot"));
    let c = w.compile();
    let p = &st(&c, Kind::OAuthClient, "agents", "bot").problems[0];
    assert_eq!(p.reason, Reason::SecretPending);
    assert_eq!(p.field, "spec.secret.name");
    assert!(c.snapshot.client("bot.agents").is_none());
}

#[test]
fn every_problem_of_a_client_is_reported_not_just_the_first() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["r"]))
        .client(client("agents", "bot").may("shop", "gone", &[]).may("shop", "orders", &["nope"]))
        .compile();
    let s = st(&c, Kind::OAuthClient, "agents", "bot");
    assert_eq!(s.problems.len(), 2);
    assert_eq!(s.reason(), "ResourceNotFound");
    assert!(s.message().contains("spec.resources[1].scopes[0]"));
}

#[test]
fn policies_govern_only_their_own_namespace() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["r"]))
        .client(client("agents", "bot").may("shop", "orders", &["r"]))
        .policy(policy("elsewhere", "deny-all", keyward_core::model::Effect::Deny, &["r"]))
        .compile();
    assert!(c.snapshot.client("bot.agents").unwrap().associations[0].policies.is_empty());
    let p = st(&c, Kind::AccessPolicy, "elsewhere", "deny-all");
    assert!(p.ready());
    assert_eq!(p.warnings, vec!["selects no Resource in namespace elsewhere yet"]);
}

#[test]
fn unknown_introspectors_are_a_warning_not_a_rejection() {
    let mut r = api("shop", "orders", "https://api/orders", &["r"]);
    r.introspectors = vec![ObjectKey::new("agents", "server"), ObjectKey::new("agents", "ghost")];
    let c = World::new().resource(r).client(client("agents", "server")).compile();
    let s = st(&c, Kind::Resource, "shop", "orders");
    assert!(s.ready());
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(
        s.warnings[0],
        "spec.introspection.clients[1]: no OAuthClient of this name exists, so it cannot introspect"
    );
    assert_eq!(&*c.snapshot.resource("https://api/orders").unwrap().introspectors[0], "server.agents");
}

#[test]
fn association_scopes_follow_catalog_order() {
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["a", "b", "c"]))
        .client(client("agents", "bot").may("shop", "orders", &["c", "a"]))
        .compile();
    let scopes: Vec<&str> =
        c.snapshot.client("bot.agents").unwrap().associations[0].scopes.iter().map(|s| &**s).collect();
    assert_eq!(scopes, vec!["a", "c"]);
}

#[test]
fn ten_thousand_clients_compile_with_their_associations() {
    let mut w = World::new();
    for r in 0..100 {
        w = w.resource(api("shop", &format!("r{r}"), &format!("https://api/{r}"), &["read", "write"]));
    }
    for i in 0..10_000 {
        w = w.client(client("agents", &format!("c{i}")).may("shop", &format!("r{}", i % 100), &["read"]));
    }
    let c = w.compile();
    assert_eq!(c.snapshot.clients().count(), 10_000);
    assert!(c.statuses.iter().all(|s| s.ready()));
}

#[test]
fn a_reference_to_an_object_that_did_not_convert_says_it_is_not_valid() {
    let c = World::new()
        .invalid(Kind::Resource, "shop", "orders")
        .client(client("agents", "bot").may("shop", "orders", &["r"]))
        .compile();
    let p = &st(&c, Kind::OAuthClient, "agents", "bot").problems[0];
    assert_eq!(p.field, "spec.resources[0].name");
    assert_eq!(p.message, "the Resource named here is not valid: fix that object");
}

#[test]
fn a_policy_naming_a_missing_resource_or_client_is_ready_with_a_warning_per_name() {
    let mut p = policy("shop", "p", keyward_core::model::Effect::Allow, &["r"]);
    p.resources.names = vec!["orders".into(), "ordres".into()];
    p.clients.names = vec![ObjectKey::new("agents", "bot"), ObjectKey::new("agents", "bto")];
    let c = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["r"]))
        .client(client("agents", "bot").may("shop", "orders", &["r"]))
        .policy(p)
        .compile();
    let s = st(&c, Kind::AccessPolicy, "shop", "p");
    assert!(s.ready());
    assert_eq!(
        s.warnings,
        [
            "spec.resources.names[1]: no Resource of this name exists",
            "spec.clients.names[1]: no OAuthClient of this name exists"
        ]
    );
}

#[test]
fn a_secret_the_hub_writes_next_is_a_transient_wait_and_one_the_user_provides_is_not() {
    let mut provided = client("agents", "byo");
    provided.secret_provided = true;
    let c = World::new().client(client("agents", "bot")).client(provided).without_secrets().compile();
    assert!(st(&c, Kind::OAuthClient, "agents", "bot").settling());
    let byo = st(&c, Kind::OAuthClient, "agents", "byo");
    assert_eq!(byo.reason(), "SecretPending");
    assert!(!byo.settling());
    let c = World::new().in_folder().client(client("agents", "bot")).without_secrets().compile();
    assert!(!st(&c, Kind::OAuthClient, "agents", "bot").settling(), "nobody writes it in a folder");
}

#[test]
fn in_a_folder_what_needs_a_cluster_is_unsupported_with_its_field() {
    use keyward_core::model::{IssuerSource, JwtBearerGrant, SecretRotation, TrustedIssuer};
    let mut rotating = client("agents", "rotating");
    rotating.secret_rotation = Some(SecretRotation { id: "1".into(), grace: std::time::Duration::from_secs(60) });
    let issuer = |source, token_review| TrustedIssuer {
        source,
        algorithms: vec![],
        audiences: vec![],
        subjects: vec![],
        subject_claim: "sub".into(),
        userinfo: None,
        token_review,
        max_lifetime: std::time::Duration::from_secs(3600),
        reject_replay: false,
    };
    let mut workload = client("agents", "workload");
    workload.grants.jwt_bearer = Some(JwtBearerGrant {
        trusted_issuers: vec![
            issuer(IssuerSource::Kubernetes { issuer: None, jwks_uri: None, ca_bundle: None }, true),
            issuer(
                IssuerSource::Kubernetes {
                    issuer: Some("https://k8s.example".into()),
                    jwks_uri: Some("https://k8s.example/openid/v1/jwks".into()),
                    ca_bundle: None,
                },
                false,
            ),
        ],
    });
    let world = || World::new().client(rotating.clone()).client(workload.clone());
    let c = world().in_folder().compile();
    // Rotation is the same in a folder (the folder source plans it as the
    // controller does).
    assert!(st(&c, Kind::OAuthClient, "agents", "rotating").ready());
    let w = st(&c, Kind::OAuthClient, "agents", "workload");
    let fields: Vec<&str> = w.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.grantTypes.jwtBearer.trustedIssuers[0].tokenReview",
            "spec.grantTypes.jwtBearer.trustedIssuers[0].kubernetes"
        ]
    );
    let c = world().compile();
    assert!(c.statuses.iter().all(|s| s.ready()), "a cluster honours both: {:?}", c.statuses);
}

#[test]
fn a_client_re_created_under_the_same_id_does_not_own_the_first_ones_tokens() {
    let mut first = client("agents", "bot");
    first.meta.uid = Some("uid-1".into());
    let c = World::new().client(first.clone()).compile();
    assert!(c.snapshot.issuing_client("bot.agents", "uid-1").is_some());
    assert!(c.snapshot.issuing_client("bot.agents", "").is_none(), "a token without the claim");
    first.meta.uid = Some("uid-2".into());
    let c = World::new().client(first).compile();
    assert!(c.snapshot.issuing_client("bot.agents", "uid-1").is_none());
    assert_eq!(&*c.snapshot.client("bot.agents").unwrap().incarnation, "uid-2");
}

#[test]
fn identifiers_that_differ_only_by_the_root_slash_are_one_identifier() {
    let c = World::new()
        .resource(api("a", "first", "https://mcp.example", &[]))
        .resource(api("z", "second", "https://mcp.example/", &[]))
        .resource(api("z", "third", "https://mcp.example/mcp", &[]))
        .resource(api("z", "fourth", "https://mcp.example/mcp/", &[]))
        .compile();
    assert!(st(&c, Kind::Resource, "a", "first").ready());
    let p = &st(&c, Kind::Resource, "z", "second").problems[0];
    assert_eq!(p.reason, Reason::DuplicateIdentifier);
    assert_eq!(p.message, "this identifier is already used by Resource a/first");
    assert!(st(&c, Kind::Resource, "z", "third").ready());
    assert!(st(&c, Kind::Resource, "z", "fourth").ready());
}
