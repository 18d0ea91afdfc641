//! The authorization request (RFC 6749 §4.1.1 as OAuth 2.1 profiles it):
//! what `/authorize` accepts before any user is involved, and the scope
//! decision once a user has logged in.
//!
//! Two kinds of refusal. Until the client and its redirect URI are verified,
//! an error is shown to the user and nobody is redirected (§4.1.2.1: an
//! unverified redirect would make the hub an open redirector). After that,
//! errors go back to the client's redirect URI with `state` and `iss`.

use std::sync::Arc;

use super::common::{Facts, decide_scopes, target};
use super::request::Params;
use crate::error::{ErrorCode, OAuthError, echo};
use crate::model::GrantType;
use crate::policy::Trace;
use crate::scope::parse_scope_param;
use crate::snapshot::{CompiledClient, HubSnapshot};
use crate::syntax::is_absolute_uri_without_fragment;
use crate::time::UnixTime;

/// Scopes the hub itself answers for (OpenID Connect Core §5.4, §11); they are
/// never a Resource's.
pub const OPENID_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The longest `state` and `nonce` kept (they are stored and echoed).
pub const MAX_STATE: usize = 1024;

#[derive(Debug, Default)]
pub struct AuthorizeRequest<'r> {
    pub response_type: Option<&'r str>,
    pub client_id: Option<&'r str>,
    pub redirect_uri: Option<&'r str>,
    pub scope: Option<&'r str>,
    pub state: Option<&'r str>,
    pub code_challenge: Option<&'r str>,
    pub code_challenge_method: Option<&'r str>,
    pub resources: Vec<&'r str>,
    pub nonce: Option<&'r str>,
    pub prompt: Option<&'r str>,
    pub max_age: Option<&'r str>,
    pub login_hint: Option<&'r str>,
    /// RFC 9101 request objects are not supported; their presence is an error.
    pub request: Option<&'r str>,
    pub request_uri: Option<&'r str>,
}

/// A refusal of `/authorize`.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown to the user: the redirect URI is not verified.
    Page(OAuthError),
    /// Sent to the verified redirect URI.
    Redirect { redirect_uri: String, state: Option<String>, error: OAuthError },
}

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A verified authorization request.
#[derive(Debug)]
pub struct Authorization<'a> {
    pub client: &'a Arc<CompiledClient>,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    /// Resource identifiers, at least one.
    pub resources: Vec<String>,
    /// Resource scopes as requested (`None`: each association's default).
    pub scope: Option<String>,
    /// OpenID scopes requested, in `OPENID_SCOPES` order.
    pub openid: Vec<String>,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
}

impl<'r> AuthorizeRequest<'r> {
    pub fn parse(p: &'r impl Params) -> Result<Self, OAuthError> {
        Ok(AuthorizeRequest {
            response_type: p.one("response_type")?,
            client_id: p.one("client_id")?,
            redirect_uri: p.one("redirect_uri")?,
            scope: p.one("scope")?,
            state: p.one("state")?,
            code_challenge: p.one("code_challenge")?,
            code_challenge_method: p.one("code_challenge_method")?,
            resources: p.all("resource"),
            nonce: p.one("nonce")?,
            prompt: p.one("prompt")?,
            max_age: p.one("max_age")?,
            login_hint: p.one("login_hint")?,
            request: p.one("request")?,
            request_uri: p.one("request_uri")?,
        })
    }
}

/// RFC 7636 §4.2: 43 base64url characters for S256.
pub fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
pub fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks everything that needs no user.
pub fn validate<'a>(
    snapshot: &'a HubSnapshot,
    req: &AuthorizeRequest<'_>,
) -> Result<Authorization<'a>, AuthorizeError> {
    let page = |e: OAuthError| AuthorizeError::Page(e);
    let client_id = req.client_id.ok_or_else(|| page(OAuthError::invalid_request("client_id is required")))?;
    let client =
        snapshot.client(client_id).ok_or_else(|| page(OAuthError::new(ErrorCode::InvalidClient, "unknown client")))?;
    let Some(ac) = &client.authorization_code else {
        return Err(page(OAuthError::unauthorized_client("this client may not use the authorization code grant")));
    };
    let redirect_uri = match (req.redirect_uri, ac.redirect_uris.as_slice()) {
        (Some(r), registered) if super::redirect::matches(registered, r) => r.to_owned(),
        (Some(_), _) => {
            return Err(page(OAuthError::invalid_request(
                "redirect_uri is not one registered for this client (compared exactly)",
            )));
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(page(OAuthError::invalid_request("redirect_uri is required: this client registered several")));
        }
    };
    let state = req.state.map(str::to_owned);
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone().filter(|s| s.len() <= MAX_STATE),
        error,
    };
    if req.state.is_some_and(|s| s.len() > MAX_STATE) {
        return Err(fail(OAuthError::invalid_request(format!("state is longer than {MAX_STATE} characters"))));
    }
    if req.request.is_some() || req.request_uri.is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported: send the parameters themselves",
        )));
    }
    match req.response_type {
        None => return Err(fail(OAuthError::invalid_request("response_type is required"))),
        Some("code") => {}
        Some(other) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type '{}' is not supported: use code", echo(other)),
            )));
        }
    }
    let code_challenge = match (req.code_challenge, req.code_challenge_method) {
        (None, _) => return Err(fail(OAuthError::invalid_request("code_challenge is required (PKCE, RFC 7636)"))),
        (Some(_), None | Some("plain")) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge_method must be S256: plain is not accepted (OAuth 2.1 section 4.1.1)",
            )));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(fail(OAuthError::invalid_request(format!(
                "code_challenge_method '{}' is not supported: use S256",
                echo(m)
            ))));
        }
        (Some(c), Some(_)) if !is_s256_challenge(c) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge is not an S256 challenge (43 base64url characters)",
            )));
        }
        (Some(c), Some(_)) => c.to_owned(),
    };

    let sign_in_only = client.associations.is_empty() && req.scope.is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    let resources: Vec<String> = if req.resources.is_empty() && sign_in_only {
        // A client that only signs users in: its access token is for the
        // hub's /userinfo.
        vec![snapshot.userinfo.identifier.to_string()]
    } else if req.resources.is_empty() {
        vec![target(snapshot, client, &[]).map_err(fail)?.resource.identifier.to_string()]
    } else {
        let mut out: Vec<String> = Vec::with_capacity(req.resources.len());
        for r in &req.resources {
            // The code is bound to the Resource as declared, whichever
            // equivalent spelling the client sent: that is the token's `aud`.
            let declared = &target(snapshot, client, std::slice::from_ref(r)).map_err(fail)?.resource.identifier;
            if !out.iter().any(|x| **x == **declared) {
                out.push(declared.to_string());
            }
        }
        out
    };

    let (scope, openid) = match req.scope {
        None => (None, Vec::new()),
        Some(s) => {
            let all = parse_scope_param(s)
                .map_err(|_| fail(OAuthError::invalid_scope("scope is malformed (RFC 6749 section 3.3)")))?;
            let openid: Vec<String> =
                OPENID_SCOPES.iter().filter(|o| all.contains(o)).map(|o| (*o).to_owned()).collect();
            let rest: Vec<&str> = all.into_iter().filter(|s| !OPENID_SCOPES.contains(s)).collect();
            for s in &rest {
                let defined = resources.iter().any(|r| snapshot.resource(r).is_some_and(|r| r.defines_scope(s)));
                if !defined {
                    return Err(fail(OAuthError::invalid_scope(format!(
                        "scope '{}' is not defined by the requested resource(s)",
                        echo(s)
                    ))));
                }
            }
            // Only OpenID scopes: each resource's default applies.
            ((!rest.is_empty()).then(|| rest.join(" ")), openid)
        }
    };

    let mut prompt = Prompt::default();
    if let Some(p) = req.prompt {
        for v in p.split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                other => {
                    return Err(fail(OAuthError::invalid_request(format!(
                        "prompt '{}' is not supported: use none, login or consent",
                        echo(other)
                    ))));
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(fail(OAuthError::invalid_request("prompt none cannot be combined with other values")));
        }
    }
    let max_age = match req.max_age {
        None => None,
        Some(m) => Some(
            m.parse::<u64>()
                .map_err(|_| fail(OAuthError::invalid_request("max_age must be a whole number of seconds")))?,
        ),
    };
    if req.nonce.is_some_and(|n| n.len() > MAX_STATE) {
        return Err(fail(OAuthError::invalid_request(format!("nonce is longer than {MAX_STATE} characters"))));
    }
    if req.login_hint.is_some_and(|h| h.len() > 256) {
        return Err(fail(OAuthError::invalid_request("login_hint is longer than 256 characters")));
    }
    Ok(Authorization {
        client,
        redirect_uri,
        state,
        code_challenge,
        resources,
        scope,
        openid,
        nonce: req.nonce.map(str::to_owned),
        prompt,
        max_age,
        login_hint: req.login_hint.map(str::to_owned),
    })
}

/// The Resource scopes of a `scope` parameter; `None` when it names none
/// (absent, or OpenID scopes only): then each Resource's default applies.
pub fn resource_scopes(scope: Option<&str>) -> Result<Option<Vec<&str>>, OAuthError> {
    let Some(s) = scope else { return Ok(None) };
    let all =
        parse_scope_param(s).map_err(|_| OAuthError::invalid_scope("scope is malformed (RFC 6749 section 3.3)"))?;
    let rest: Vec<&str> = all.into_iter().filter(|s| !OPENID_SCOPES.contains(s)).collect();
    Ok((!rest.is_empty()).then_some(rest))
}

/// The scopes a user gets at each requested resource: the same decision as
/// every grant (association, role mapping, policies). A resource where
/// nothing of a non-empty request may be granted fails the whole request.
// Each argument is one fact of the decision; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn decide_for_user(
    client: &CompiledClient,
    resources: &[String],
    scope: Option<&str>,
    sub: &str,
    roles: &[String],
    grant: GrantType,
    now: UnixTime,
    trace: &mut impl Trace,
) -> Result<Vec<(String, Vec<String>)>, OAuthError> {
    let requested_all = resource_scopes(scope)?;
    let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(resources.len());
    for r in resources {
        if !is_absolute_uri_without_fragment(r) {
            return Err(OAuthError::invalid_target("resource must be an absolute URI without a fragment"));
        }
        let assoc = client
            .association(r)
            .ok_or_else(|| OAuthError::invalid_target(format!("this client may not request resource '{}'", echo(r))))?;
        let requested: Option<Vec<&str>> =
            requested_all.as_ref().map(|all| all.iter().copied().filter(|s| assoc.resource.defines_scope(s)).collect());
        // Scopes of the other resources only: this one's default would widen
        // the request, so nothing is asked of it.
        if requested.as_ref().is_some_and(Vec::is_empty) {
            out.push((r.clone(), Vec::new()));
            continue;
        }
        let facts = Facts { grant, tenant: None, subject: Some(sub), roles: &role_refs, now };
        let granted = decide_scopes(assoc, requested.as_deref(), &facts, trace)?;
        out.push((r.clone(), granted));
    }
    Ok(out)
}
