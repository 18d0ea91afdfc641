#![allow(clippy::unwrap_used)]
mod common;

use common::*;
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
    assert_eq!(bad.problems[0].message, "Resource shop/gone does not exist");
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
    assert_eq!(p.message, "scope 'admin' is not defined by Resource shop/orders");
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
    assert_eq!(p.message, "client id 'shared' is already used by OAuthClient b/old");
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
    assert_eq!(p.message, "identifier 'https://same' is already used by Resource a/first");
}

#[test]
fn a_client_of_a_rejected_resource_says_the_resource_is_not_ready() {
    let c = World::new()
        .resource(api("a", "first", "https://same", &["r"]))
        .resource(api("z", "second", "https://same", &["r"]))
        .client(client("agents", "bot").may("z", "second", &["r"]))
        .compile();
    assert_eq!(st(&c, Kind::OAuthClient, "agents", "bot").problems[0].message, "Resource z/second is not Ready");
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
    assert!(s.warnings[0].contains("agents/ghost"));
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
