//! Token exchange (RFC 8693): a client trades a subject token for one toward
//! another of its Resources. Scopes only narrow, policies apply to the target
//! for the token's subject, and the result says who acts (`act`, §4.1).

use serde_json::{Value, json};

use super::common::{Facts, Grant, decide_scopes, requested_scopes, target};
use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::model::GrantType;
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

pub struct ExchangeRequest<'r> {
    pub scope: Option<&'r str>,
    pub resources: &'r [&'r str],
    /// RFC 8693 `audience`: here, Resource identifiers too.
    pub audiences: &'r [&'r str],
    pub requested_token_type: Option<&'r str>,
    pub now: UnixTime,
}

pub struct Exchanged<'a> {
    pub grant: Grant<'a>,
    pub act: Value,
}

fn invalid_request(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_request(d)
}

pub fn exchange<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    subject: &'a PresentedToken,
    actor: Option<&PresentedToken>,
    req: &ExchangeRequest<'_>,
) -> Result<Exchanged<'a>, OAuthError> {
    if client.token_exchange.is_none() {
        return Err(OAuthError::unauthorized_client("token exchange is not enabled for this client"));
    }
    if req.requested_token_type.is_some_and(|t| t != TOKEN_TYPE_ACCESS_TOKEN) {
        return Err(invalid_request("requested_token_type must be urn:ietf:params:oauth:token-type:access_token"));
    }
    // `resource` and `audience` both name the target; together they must agree.
    let mut named: Vec<&str> = req.resources.to_vec();
    for a in req.audiences {
        if !named.contains(a) {
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
    let facts =
        Facts { grant: GrantType::TokenExchange, tenant, subject: Some(&subject.sub), roles: &roles, now: req.now };
    let mut granted = decide_scopes(assoc, requested.as_deref(), &facts)?;
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
    Ok(Exchanged {
        grant: Grant {
            resource,
            scope: granted.join(" "),
            tenant,
            lifetime: access_token_lifetime(&snapshot.settings, client, resource),
        },
        act,
    })
}
