#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use keyward_core::model::{ClientSelector, Effect, GrantType, ObjectKey};
use keyward_core::policy::{DecisionInput, Removal, Verdict, decide, explain};

fn world(policies: Vec<keyward_core::model::Policy>) -> keyward_core::Compiled {
    let mut w = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["read", "write", "refund", "admin"]))
        .client(client("agents", "bot").tags(&["agent"]).may("shop", "orders", &["read", "write", "refund"]));
    for p in policies {
        w = w.policy(p);
    }
    w.compile()
}

fn input<'a>(requested: Option<&'a [&'a str]>) -> DecisionInput<'a> {
    DecisionInput { requested, grant: GrantType::ClientCredentials, tenant: None, subject: None, roles: &[], now: keyward_core::UnixTime(0) }
}

fn granted(c: &keyward_core::Compiled, i: DecisionInput<'_>) -> Vec<String> {
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    decide(a, &i, &mut ()).into_iter().map(str::to_owned).collect()
}

#[test]
fn without_policies_the_association_decides() {
    let c = world(vec![]);
    assert_eq!(granted(&c, input(Some(&["read", "admin"]))), vec!["read"]);
}

#[test]
fn no_scope_requested_means_the_whole_association() {
    let c = world(vec![]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"]);
}

#[test]
fn once_an_allow_policy_applies_only_allowed_scopes_pass() {
    let c = world(vec![policy("shop", "allow-read", Effect::Allow, &["read"])]);
    assert_eq!(granted(&c, input(None)), vec!["read"]);
}

#[test]
fn allow_policies_add_up() {
    let c = world(vec![policy("shop", "a", Effect::Allow, &["read"]), policy("shop", "b", Effect::Allow, &["write"])]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write"]);
}

#[test]
fn deny_wins_over_allow() {
    let c = world(vec![
        policy("shop", "a", Effect::Allow, &["read", "write"]),
        policy("shop", "d", Effect::Deny, &["write"]),
    ]);
    assert_eq!(granted(&c, input(None)), vec!["read"]);
}

#[test]
fn an_allow_policy_for_another_client_does_not_restrict_this_one() {
    let mut p = policy("shop", "others", Effect::Allow, &["read"]);
    p.clients = ClientSelector { tags: vec!["human".into()], ..ClientSelector::default() };
    let c = world(vec![p]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"]);
}

#[test]
fn client_selectors_match_by_name_namespace_tag_and_labels() {
    let by_name = ClientSelector { names: vec![ObjectKey::new("agents", "bot")], ..ClientSelector::default() };
    let by_ns = ClientSelector { namespaces: vec!["agents".into()], ..ClientSelector::default() };
    let by_tag = ClientSelector { tags: vec!["agent".into()], ..ClientSelector::default() };
    let wrong_ns = ClientSelector { namespaces: vec!["other".into()], ..ClientSelector::default() };
    let both =
        ClientSelector { tags: vec!["agent".into()], namespaces: vec!["other".into()], ..ClientSelector::default() };
    for (sel, applies) in [(by_name, true), (by_ns, true), (by_tag, true), (wrong_ns, false), (both, false)] {
        let mut p = policy("shop", "d", Effect::Deny, &["write"]);
        p.clients = sel.clone();
        let c = world(vec![p]);
        let expected: Vec<&str> = if applies { vec!["read", "refund"] } else { vec!["read", "write", "refund"] };
        assert_eq!(granted(&c, input(None)), expected, "{sel:?}");
    }
}

#[test]
fn grant_type_and_tenant_conditions_limit_where_a_policy_applies() {
    let mut p = policy("shop", "globex-no-refund", Effect::Deny, &["refund"]);
    p.tenants = vec!["globex".into()];
    p.grant_types = vec![GrantType::ClientCredentials];
    let c = world(vec![p]);
    let mut i = input(None);
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
    i.tenant = Some("acme");
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
    i.tenant = Some("globex");
    assert_eq!(granted(&c, i), vec!["read", "write"]);
    i.grant = GrantType::JwtBearer;
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
}

#[test]
fn the_explanation_names_the_rule_behind_every_verdict() {
    let c = world(vec![
        policy("shop", "allow-rw", Effect::Allow, &["read", "write", "refund"]),
        policy("shop", "no-refund", Effect::Deny, &["refund"]),
    ]);
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    let e = explain(a, &input(Some(&["read", "refund", "admin", "nope"])));
    assert_eq!(
        e.verdicts,
        vec![
            ("read".into(), Verdict::Granted { allowed_by: vec![ObjectKey::new("shop", "allow-rw")] }),
            ("refund".into(), Verdict::Removed(Removal::Denied { by: ObjectKey::new("shop", "no-refund") })),
            ("admin".into(), Verdict::Removed(Removal::NotAssociated)),
            ("nope".into(), Verdict::Removed(Removal::NotInCatalog)),
        ]
    );
    assert_eq!(e.granted(), vec!["read"]);
    let text = e.to_string();
    assert!(text.contains("+ read: granted, allowed by shop/allow-rw"), "{text}");
    assert!(text.contains("- refund: denied by AccessPolicy shop/no-refund"), "{text}");
}

#[test]
fn the_explanation_lists_the_allow_policies_that_left_a_scope_out() {
    let c = world(vec![policy("shop", "read-only", Effect::Allow, &["read"])]);
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    let e = explain(a, &input(None));
    assert!(e.defaulted);
    assert_eq!(
        e.verdicts[1].1,
        Verdict::Removed(Removal::NotAllowed { applicable_allow: vec![ObjectKey::new("shop", "read-only")] })
    );
    assert_eq!(decide(a, &input(None), &mut ()), e.granted());
}
