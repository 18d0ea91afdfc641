//! Token exchange (RFC 8693): a client trades a subject token for one toward
//! another of its Resources. Scopes only narrow, policies apply to the target
//! for the token's subject, and the result says who acts (`act`, §4.1).

use serde_json::{Value, json};

use super::common::{Facts, Grant, decide_scopes, requested_scopes, target};
use super::request::Params;
use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::model::GrantType;
use crate::policy::Trace;
use crate::snapshot::{CompiledClient, HubSnapshot};
use crate::time::UnixTime;

pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A verified subject (or actor) token.
#[derive(Debug, Default)]
pub struct PresentedToken {
    pub sub: String,
    /// The subject's roles: from this hub's `roles` claim, or as verified from
    /// a trusted issuer. Policies on the target decide with them.
    pub roles: Vec<String>,
    /// The tenant a token of this hub was issued for: kept, so tenant policies
    /// on the target still apply and the new token names it too.
    pub tenant: Option<String>,
    /// Its audience when this hub issued it (a Resource identifier).
    pub aud: Option<String>,
    /// Its scopes when this hub issued it.
    pub scopes: Option<Vec<String>>,
    pub act: Option<Value>,
    /// RFC 8693 §4.4: who may act for this subject.
    pub may_act: Option<Value>,
}

/// The grant's parameters (RFC 8693 §2.1). The tokens are unverified here.
#[derive(Debug, Default)]
pub struct ExchangeRequest<'r> {
    pub subject_token: &'r str,
    pub actor_token: Option<&'r str>,
    pub scope: Option<&'r str>,
    pub resources: Vec<&'r str>,
    /// RFC 8693 `audience`: here, Resource identifiers too.
    pub audiences: Vec<&'r str>,
    pub requested_token_type: Option<&'r str>,
}

impl<'r> ExchangeRequest<'r> {
    /// Both token types must be given (§2.1) and be ones this hub reads: a
    /// JWT, which every access token of this hub is.
    pub fn parse(p: &'r impl Params) -> Result<Self, OAuthError> {
        let subject_token = p.one("subject_token")?.ok_or_else(|| invalid_request("subject_token is required"))?;
        token_type(p, "subject_token_type")?;
        let actor_token = p.one("actor_token")?;
        match (actor_token, p.one("actor_token_type")?) {
            (Some(_), _) => token_type(p, "actor_token_type")?,
            (None, Some(_)) => return Err(invalid_request("actor_token_type without actor_token")),
            (None, None) => {}
        }
        Ok(ExchangeRequest {
            subject_token,
            actor_token,
            scope: p.one("scope")?,
            resources: p.all("resource"),
            audiences: p.all("audience"),
            requested_token_type: p.one("requested_token_type")?,
        })
    }
}

fn token_type(p: &impl Params, name: &'static str) -> Result<(), OAuthError> {
    match p.one(name)? {
        None => Err(invalid_request(format!("{name} is required"))),
        Some(TOKEN_TYPE_ACCESS_TOKEN | TOKEN_TYPE_JWT) => Ok(()),
        Some(other) => Err(invalid_request(format!("{name} '{}' is not supported", echo(other)))),
    }
}

fn invalid_request(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_request(d)
}

/// The grant, once the subject (and actor) token are verified: the new token
/// is about the subject, and says who acts for it.
pub fn exchange<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    subject: &'a PresentedToken,
    actor: Option<&PresentedToken>,
    req: &ExchangeRequest<'_>,
    now: UnixTime,
    trace: &mut impl Trace,
) -> Result<Grant<'a>, OAuthError> {
    if client.token_exchange.is_none() {
        return Err(OAuthError::unauthorized_client("token exchange is not enabled for this client"));
    }
    if req.requested_token_type.is_some_and(|t| t != TOKEN_TYPE_ACCESS_TOKEN) {
        return Err(invalid_request("requested_token_type must be urn:ietf:params:oauth:token-type:access_token"));
    }
    // `resource` and `audience` both name the target; together they must agree.
    let mut named: Vec<&str> = req.resources.clone();
    for &a in &req.audiences {
        if !named.contains(&a) {
            named.push(a);
        }
    }
    let assoc = target(snapshot, client, &named)?;
    let resource = &*assoc.resource;

    // §4.4: a subject token that says who may act for it is obeyed.
    let acting = actor.map_or(&*client.client_id, |a| a.sub.as_str());
    if let Some(may_act) = &subject.may_act {
        let allowed = may_act.get("sub").and_then(Value::as_str) == Some(acting);
        if !allowed {
            return Err(invalid_request(format!(
                "the subject token does not allow '{}' to act for it (may_act)",
                echo(acting)
            )));
        }
    }

    let requested = requested_scopes(req.scope, resource)?;
    let roles: Vec<&str> = subject.roles.iter().map(String::as_str).collect();
    let tenant = subject.tenant.as_deref();
    let facts = Facts { grant: GrantType::TokenExchange, tenant, subject: Some(&subject.sub), roles: &roles, now };
    let mut granted = decide_scopes(assoc, requested.as_deref(), &facts, trace)?;
    // Toward the same Resource, the new token can hold no more than the old.
    let same_audience = subject.aud.as_deref() == Some(&*resource.identifier);
    if let (true, Some(held)) = (same_audience, &subject.scopes) {
        granted.retain(|s| held.contains(s));
    }
    if let Some(requested) = &requested
        && let Some(wider) = requested.iter().find(|s| !granted.iter().any(|g| g == *s))
    {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{}' is wider than the subject token or this client allows",
            echo(wider)
        )));
    }
    if granted.is_empty() && requested.as_ref().is_none_or(|r| !r.is_empty()) && !assoc.scopes.is_empty() {
        return Err(OAuthError::invalid_scope("none of the requested scopes may be granted to this client"));
    }
    // §4.1: the current actor first, earlier ones nested inside.
    let act = match &subject.act {
        Some(prior) => json!({"sub": acting, "act": prior}),
        None => json!({"sub": acting}),
    };
    Ok(Grant {
        resource,
        scope: granted.join(" "),
        tenant,
        lifetime: access_token_lifetime(&snapshot.settings, client, resource),
        sub: &subject.sub,
        roles: &subject.roles,
        act: Some(act),
    })
}
