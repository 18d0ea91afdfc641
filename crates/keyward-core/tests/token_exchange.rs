//! Token exchange rules (RFC 8693) on a compiled world: narrowing, targets,
//! `may_act`, `act` chains, and the subject token's tenant and roles reaching
//! the target's policies.

use crate::common::*;
use keyward_core::ErrorCode;
use keyward_core::grant::token_exchange::{ExchangeRequest, PresentedToken};
use keyward_core::model::{Effect, TokenExchangeGrant};
use keyward_core::{Compiled, UnixTime};
use serde_json::json;

const ORDERS: &str = "https://api/orders";
const DOCS: &str = "https://mcp/docs";

fn world() -> Compiled {
    let mut mcp = client("agents", "mcp").may("shop", "orders", &["read", "write"]);
    mcp.grants.token_exchange = Some(TokenExchangeGrant {});
    let mut tenant_deny = policy("shop", "no-writes-for-globex", Effect::Deny, &["write"]);
    tenant_deny.tenants = vec!["globex".into()];
    let mut role_deny = policy("shop", "readers-only-read", Effect::Deny, &["write"]);
    role_deny.subjects.roles = vec!["reader".into()];
    World::new()
        .resource(api("shop", "orders", ORDERS, &["read", "write"]))
        .resource(api("shop", "docs", DOCS, &["search"]))
        .client(mcp)
        .client(client("agents", "plain").may("shop", "orders", &["read"]))
        .policy(tenant_deny)
        .policy(role_deny)
        .compile()
}

fn subject() -> PresentedToken {
    PresentedToken { sub: "alice".into(), aud: Some(DOCS.into()), ..PresentedToken::default() }
}

fn request<'r>(scope: Option<&'r str>, resources: &'r [&'r str]) -> ExchangeRequest<'r> {
    ExchangeRequest { scope, resources: resources.to_vec(), ..ExchangeRequest::default() }
}

/// The grant function as `/token` calls it, at time zero.
fn exchange<'a>(
    hub: &'a keyward_core::HubSnapshot,
    client: &'a keyward_core::snapshot::CompiledClient,
    subject: &'a PresentedToken,
    actor: Option<&PresentedToken>,
    req: &ExchangeRequest<'_>,
) -> Result<keyward_core::grant::Grant<'a>, keyward_core::OAuthError> {
    keyward_core::grant::token_exchange::exchange(hub, client, subject, actor, req, UnixTime(0), &mut ())
}

#[test]
fn the_subject_tokens_tenant_reaches_the_targets_policies_and_the_new_token() {
    let c = world();
    let caller = c.snapshot.client("mcp.agents").unwrap();
    for (tenant, scope) in [(None, "read write"), (Some("acme"), "read write"), (Some("globex"), "read")] {
        let s = PresentedToken { tenant: tenant.map(str::to_owned), ..subject() };
        let ex = exchange(&c.snapshot, caller, &s, None, &request(None, &[ORDERS])).unwrap();
        assert_eq!((ex.scope.as_str(), ex.tenant), (scope, tenant), "{tenant:?}");
    }
}

#[test]
fn the_subject_tokens_roles_reach_the_targets_policies() {
    let c = world();
    let caller = c.snapshot.client("mcp.agents").unwrap();
    let reader = PresentedToken { roles: vec!["reader".into()], ..subject() };
    let ex = exchange(&c.snapshot, caller, &reader, None, &request(None, &[ORDERS])).unwrap();
    assert_eq!(ex.scope, "read");
    let e = exchange(&c.snapshot, caller, &reader, None, &request(Some("read write"), &[ORDERS])).err().unwrap();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    let editor = PresentedToken { roles: vec!["editor".into()], ..subject() };
    assert_eq!(exchange(&c.snapshot, caller, &editor, None, &request(None, &[ORDERS])).unwrap().scope, "read write");
}

#[test]
fn scopes_only_narrow_toward_the_same_resource() {
    let c = world();
    let caller = c.snapshot.client("mcp.agents").unwrap();
    let held = PresentedToken { aud: Some(ORDERS.into()), scopes: Some(vec!["read".into()]), ..subject() };
    assert_eq!(exchange(&c.snapshot, caller, &held, None, &request(None, &[ORDERS])).unwrap().scope, "read");
    let e = exchange(&c.snapshot, caller, &held, None, &request(Some("write"), &[ORDERS])).err().unwrap();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert_eq!(e.description, "scope 'write' is wider than the subject token or this client allows");
}

#[test]
fn targets_the_client_is_not_associated_with_are_invalid_target_and_the_grant_must_be_enabled() {
    let c = world();
    let caller = c.snapshot.client("mcp.agents").unwrap();
    let alice = subject();
    let e = exchange(&c.snapshot, caller, &alice, None, &request(None, &[DOCS])).err().unwrap();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    let plain = c.snapshot.client("plain.agents").unwrap();
    let e = exchange(&c.snapshot, plain, &alice, None, &request(None, &[ORDERS])).err().unwrap();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);
}

#[test]
fn may_act_is_obeyed_and_act_nests_earlier_actors() {
    let c = world();
    let caller = c.snapshot.client("mcp.agents").unwrap();
    let allowed =
        PresentedToken { may_act: Some(json!({"sub": "mcp.agents"})), act: Some(json!({"sub": "gw"})), ..subject() };
    let ex = exchange(&c.snapshot, caller, &allowed, None, &request(None, &[ORDERS])).unwrap();
    assert_eq!(ex.act.unwrap(), json!({"sub": "mcp.agents", "act": {"sub": "gw"}}));
    let other = PresentedToken { may_act: Some(json!({"sub": "someone-else"})), ..subject() };
    let e = exchange(&c.snapshot, caller, &other, None, &request(None, &[ORDERS])).err().unwrap();
    assert_eq!(e.description, "the subject token does not allow 'mcp.agents' to act for it (may_act)");
    // An actor token names the actor instead of the client.
    let actor = PresentedToken { sub: "mcp.agents".into(), ..PresentedToken::default() };
    let alice = subject();
    let ex = exchange(&c.snapshot, caller, &alice, Some(&actor), &request(None, &[ORDERS])).unwrap();
    assert_eq!(ex.act.unwrap(), json!({"sub": "mcp.agents"}));
}
