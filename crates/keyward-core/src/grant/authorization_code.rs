//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3 as
//! OAuth 2.1 profiles it): a code is good once, for one client, one redirect
//! URI, one PKCE verifier and the resources named at `/authorize`.

pub use super::common::Grant;
use super::common::{Facts, decide_scopes};
use super::request::Params;
use crate::claims::access_token_lifetime;
use crate::error::{OAuthError, echo};
use crate::model::GrantType;
use crate::policy::Trace;
use crate::sessions::Code;
use crate::snapshot::{CompiledClient, HubSnapshot};
use crate::time::UnixTime;

/// The longest a code lives (OAuth 2.1 §4.1.2 recommends at most 10 minutes;
/// a client redeems at once).
pub const CODE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct AuthorizationCodeRequest<'r> {
    pub code: &'r str,
    pub redirect_uri: Option<&'r str>,
    pub code_verifier: Option<&'r str>,
    pub resources: Vec<&'r str>,
}

impl<'r> AuthorizationCodeRequest<'r> {
    pub fn parse(p: &'r impl Params) -> Result<Self, OAuthError> {
        Ok(AuthorizationCodeRequest {
            code: p.one("code")?.ok_or_else(|| OAuthError::invalid_request("code is required"))?,
            redirect_uri: p.one("redirect_uri")?,
            code_verifier: p.one("code_verifier")?,
            resources: p.all("resource"),
        })
    }
}

/// What a request must hold before a code is touched: a malformed request
/// is refused without spending the code. Everything after this spends it.
pub fn check_shape(req: &AuthorizationCodeRequest<'_>) -> Result<(), OAuthError> {
    if req.redirect_uri.is_none() {
        return Err(OAuthError::invalid_request("redirect_uri is required"));
    }
    match req.code_verifier {
        None => Err(OAuthError::invalid_request("code_verifier is required (PKCE)")),
        Some(v) if !super::authorize::is_code_verifier(v) => {
            Err(OAuthError::invalid_request("code_verifier must be 43 to 128 unreserved characters (RFC 7636)"))
        }
        Some(_) => Ok(()),
    }
}

/// Whether this client may redeem this code with this request. `verifier_s256`
/// is BASE64URL(SHA-256(code_verifier)), computed by the edge.
pub fn check_redemption(
    code: &Code,
    client: &CompiledClient,
    req: &AuthorizationCodeRequest<'_>,
    verifier_s256: Option<&str>,
    now: UnixTime,
) -> Result<(), OAuthError> {
    // One description for "not yours" and "unknown": a code's existence is
    // not something to confirm to another client.
    if code.client_id != *client.client_id || code.incarnation != *client.incarnation {
        return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
    }
    if now.0 >= code.expires {
        return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
    }
    match req.redirect_uri {
        Some(r) if r == code.redirect_uri => {}
        Some(_) => return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's")),
        None => return Err(OAuthError::invalid_request("redirect_uri is required")),
    }
    let Some(verifier) = req.code_verifier else {
        return Err(OAuthError::invalid_request("code_verifier is required (PKCE)"));
    };
    if !super::authorize::is_code_verifier(verifier) {
        return Err(OAuthError::invalid_request("code_verifier must be 43 to 128 unreserved characters (RFC 7636)"));
    }
    if verifier_s256 != Some(code.code_challenge.as_str()) {
        return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
    }
    Ok(())
}

/// Which of the code's (or refresh token's) resources this request is for.
pub fn pick<'c>(granted: &'c [String], requested: &[&str]) -> Result<&'c str, OAuthError> {
    match requested {
        [] => match granted {
            [only] => Ok(only),
            _ => Err(OAuthError::invalid_target("resource is required: the authorization covers several resources")),
        },
        [one] => granted.iter().find(|g| crate::syntax::same_identifier(g, one)).map(String::as_str).ok_or_else(|| {
            OAuthError::invalid_target(format!("resource '{}' was not part of the authorization", echo(one)))
        }),
        _ => Err(OAuthError::invalid_target("only one resource per token request is supported")),
    }
}

/// The access token for one resource of a redeemed code: the decision runs
/// again (policies may have changed since the consent), never wider than
/// what was requested at `/authorize`.
pub fn authorization_code<'a>(
    snapshot: &'a HubSnapshot,
    client: &'a CompiledClient,
    code: &'a Code,
    resource: &str,
    now: UnixTime,
    trace: &mut impl Trace,
) -> Result<Grant<'a>, OAuthError> {
    let assoc = client
        .association(resource)
        .ok_or_else(|| OAuthError::invalid_target("this client may no longer request this resource"))?;
    let requested: Option<Vec<&str>> = super::authorize::resource_scopes(code.scope.as_deref())?
        .map(|all| all.into_iter().filter(|s| assoc.resource.defines_scope(s)).collect());
    let roles: Vec<&str> = code.user.roles.iter().map(String::as_str).collect();
    let facts =
        Facts { grant: GrantType::AuthorizationCode, tenant: None, subject: Some(&code.user.sub), roles: &roles, now };
    let granted = match requested.as_deref() {
        Some([]) => Vec::new(),
        r => decide_scopes(assoc, r, &facts, trace)?,
    };
    Ok(Grant {
        resource: &assoc.resource,
        scope: granted.join(" "),
        tenant: None,
        lifetime: access_token_lifetime(&snapshot.settings, client, &assoc.resource),
        sub: &code.user.sub,
        roles: &code.user.roles,
        act: None,
    })
}
