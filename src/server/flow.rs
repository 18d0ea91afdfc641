//! One authorization request's way through the pages: `/authorize` records
//! it (a `Pending` record, bound to the browser), then each step — login,
//! consent — hands back to [`proceed`], which decides what is missing and
//! either shows the next page or ends at the client's redirect URI with a
//! code (or an error). Every end carries `state` and `iss` (RFC 9207).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::grant::authorization_code::CODE_LIFETIME;
use keyward_core::grant::authorize::decide_for_user;
use keyward_core::identity::User;
use keyward_core::model::GrantType;
use keyward_core::sessions::{self, Code, Consent, Family, LoginSession, PendingAuthorization, consent_key};
use keyward_core::snapshot::{CompiledClient, HubSnapshot};
use keyward_core::store::{RecordKind, Records, StoreError};
use keyward_core::{ErrorCode, OAuthError, UnixTime};
use minijinja::context;

use super::AppState;
use super::browser::{self, BROWSER, SESSION};

/// How long an `/authorize` request waits for the user.
pub const PENDING_LIFETIME: u64 = 15 * 60;

/// A refusal shown as a page (never a redirect).
pub fn error_page(st: &AppState, status: StatusCode, title: &str, message: &str, code: Option<ErrorCode>) -> Response {
    st.pages.render(
        status,
        "error.html",
        context! { hub => "Keyward", assets => st.assets(), title, message, code => code.map(|c| c.as_str()) },
        None,
    )
}

/// The page for a flow id that names no pending request of this browser.
pub fn expired_page(st: &AppState) -> Response {
    error_page(
        st,
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Go back to the application and start again.",
        Some(ErrorCode::InvalidRequest),
    )
}

fn refused_page(st: &AppState, message: &str) -> Response {
    error_page(st, StatusCode::FORBIDDEN, "Request refused", message, Some(ErrorCode::InvalidRequest))
}

/// A form posted by one of the pages: from this site, a form, each of
/// `names` at most once, for a pending request of this browser, with that
/// request's CSRF token.
pub async fn posted(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    names: &[&str],
    now: UnixTime,
) -> Result<Posted, Response> {
    if !browser::same_origin(headers, &st.issuer()) {
        return Err(refused_page(st, "The form was posted from another site."));
    }
    let invalid = |message: &str, code| error_page(st, StatusCode::BAD_REQUEST, "Invalid request", message, code);
    if super::form::require_form_content_type(headers).is_err() {
        return Err(invalid("The request must be a form post.", None));
    }
    let params = super::form::parse(body).map_err(|e| invalid(&e.description, Some(e.code)))?;
    let mut values = Vec::with_capacity(names.len() + 2);
    for name in ["flow", "csrf"].iter().chain(names) {
        let v = params.one(name).map_err(|e| invalid(&e.description, Some(e.code)))?;
        values.push(v.unwrap_or_default().to_owned());
    }
    let (id, csrf) = (values.remove(0), values.remove(0));
    let (version, p, until) = match pending(st, headers, &id, now).await {
        Ok(Some(x)) => x,
        Ok(None) => return Err(expired_page(st)),
        Err(e) => return Err(store_page(st, &e)),
    };
    if csrf.is_empty() || browser::digest(&csrf) != p.csrf {
        return Err(refused_page(st, "The form is stale or was not issued by this hub: reload the page."));
    }
    Ok(Posted { values, csrf, flow: Flow { id, version, until }, pending: p })
}

/// A form [`posted`] by a page.
pub struct Posted {
    /// The fields asked for, in order; empty when absent.
    pub values: Vec<String>,
    /// The CSRF token it carried (the next page's forms carry it too).
    pub csrf: String,
    pub flow: Flow,
    pub pending: PendingAuthorization,
}

pub fn store_page(st: &AppState, e: &StoreError) -> Response {
    tracing::warn!(error = %e, "store failure in a user flow");
    error_page(
        st,
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "The hub could not complete this step. Try again in a moment.",
        Some(ErrorCode::TemporarilyUnavailable),
    )
}

/// The store of the user flows; `Err(())` where the hub has none (the
/// caller shows [`no_records`]).
pub fn records(st: &AppState) -> Result<&Arc<dyn Records>, ()> {
    st.records.as_ref().ok_or(())
}

pub fn no_records(st: &AppState) -> Response {
    error_page(
        st,
        StatusCode::NOT_IMPLEMENTED,
        "Sign-in is not available",
        "This hub has no store for sign-in sessions.",
        None,
    )
}

/// A 303 to the client: `redirect_uri` with `params` (and `state`, `iss`)
/// added to its query.
pub fn to_client(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>, issuer: &str) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    if let Some(s) = state {
        q.append_pair("state", s);
    }
    q.append_pair("iss", issuer);
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{sep}{}", q.finish());
    see_other(&location)
}

pub fn error_to_client(p: &PendingAuthorization, e: &OAuthError, issuer: &str) -> Response {
    to_client(
        &p.redirect_uri,
        &[("error", e.code.as_str()), ("error_description", &e.description)],
        p.state.as_deref(),
        issuer,
    )
}

pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The browser's login session, if its cookie names a live one.
pub async fn session(st: &AppState, headers: &HeaderMap, now: UnixTime) -> Result<Option<LoginSession>, StoreError> {
    let Some(records) = &st.records else { return Ok(None) };
    let name = browser::cookie_name(&st.issuer(), SESSION);
    let Some(cookie) = browser::cookie(headers, &name) else { return Ok(None) };
    Ok(sessions::get::<LoginSession>(&**records, RecordKind::Login, &browser::digest(cookie), now)
        .await?
        .map(|(_, s, _)| s))
}

/// A pending request, if `flow` names one this browser started.
pub async fn pending(
    st: &AppState,
    headers: &HeaderMap,
    flow: &str,
    now: UnixTime,
) -> Result<Option<(String, PendingAuthorization, UnixTime)>, StoreError> {
    let Some(records) = &st.records else { return Ok(None) };
    if flow.len() > 64 {
        return Ok(None);
    }
    let Some((version, p, until)) =
        sessions::get::<PendingAuthorization>(&**records, RecordKind::Pending, flow, now).await?
    else {
        return Ok(None);
    };
    let name = browser::cookie_name(&st.issuer(), BROWSER);
    let bound = browser::cookie(headers, &name).is_some_and(|c| browser::digest(c) == p.browser);
    Ok(bound.then_some((version, p, until)))
}

/// The client of a pending request, if it is still the same client.
pub fn client_of<'h>(hub: &'h HubSnapshot, p: &PendingAuthorization) -> Option<&'h Arc<CompiledClient>> {
    hub.issuing_client(&p.client_id, &p.incarnation).filter(|c| c.authorization_code.is_some())
}

/// Decides what the request still needs, and shows it or ends the request.
/// `csrf` is the raw token of this flow (its digest is in the record), for
/// the next page's form.
// The flow's state travels whole from step to step; a struct would only
// rename its parts.
#[allow(clippy::too_many_arguments)]
pub async fn proceed(
    st: &AppState,
    hub: &HubSnapshot,
    flow: Option<Flow>,
    mut p: PendingAuthorization,
    login: Option<LoginSession>,
    csrf: &str,
    prompt_none: bool,
    now: UnixTime,
) -> Response {
    let issuer = st.issuer();
    let Some(client) = client_of(hub, &p) else {
        return error_page(
            st,
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The application is no longer registered.",
            Some(ErrorCode::InvalidClient),
        );
    };
    if p.user.is_none() {
        match login.filter(|_| !p.force_login) {
            Some(s) => {
                p.user = Some(s.user);
                p.auth_time = Some(s.auth_time);
            }
            None if prompt_none => {
                return error_to_client(
                    &p,
                    &OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in"),
                    &issuer,
                );
            }
            None => {
                return match keep(st, flow, &p, now).await {
                    Ok(f) => see_other(&format!("{}/login?flow={}", st.path_prefix(), f.id)),
                    Err(r) => r,
                };
            }
        }
    }
    let (Some(user), Some(auth_time)) = (p.user.clone(), p.auth_time) else {
        return error_page(st, StatusCode::BAD_REQUEST, "Sign-in failed", "Sign in first.", None);
    };

    let Asked { decided, openid, consents, missing } = match asked(st, client, &p, &user, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let skip = client.authorization_code.as_ref().is_some_and(|a| a.skip_consent);
    if missing && !skip {
        if prompt_none {
            return error_to_client(
                &p,
                &OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented"),
                &issuer,
            );
        }
        // Remember the user on the request, then ask.
        let f = match keep(st, flow, &p, now).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        return consent_page(st, hub, client, &p, &user, &decided, &openid, &f.id, csrf);
    }
    let implicit = missing && skip;
    let flow_id = flow.map(|f| f.id);
    finish(st, client, &p, &user, auth_time, &decided, &openid, consents, implicit, flow_id.as_deref(), now).await
}

/// What a request asks of the user now: the scopes decided at each
/// Resource, the OpenID scopes, each Resource's consent (its record key and
/// the consent, if given to this very client), and whether anything asked is
/// not yet consented to (or `prompt=consent`).
pub struct Asked {
    pub decided: Vec<(String, Vec<String>)>,
    pub openid: Vec<String>,
    pub consents: Vec<(String, Option<Consent>)>,
    pub missing: bool,
}

pub async fn asked(
    st: &AppState,
    client: &CompiledClient,
    p: &PendingAuthorization,
    user: &User,
    now: UnixTime,
) -> Result<Asked, Response> {
    let Ok(records) = records(st) else { return Err(no_records(st)) };
    let decided = decide_for_user(
        client,
        &p.resources,
        p.scope.as_deref(),
        &user.sub,
        &user.roles,
        GrantType::AuthorizationCode,
        now,
        &mut (),
    )
    .map_err(|e| error_to_client(p, &e, &st.issuer()))?;
    let openid = openid_of(p.scope.as_deref());
    let mut consents = Vec::with_capacity(decided.len());
    let mut missing = p.force_consent;
    for (resource, scopes) in &decided {
        let key = browser::digest(&consent_key(&user.sub, &client.client_id, resource));
        let found = match sessions::get::<Consent>(&**records, RecordKind::Consent, &key, now).await {
            Ok(c) => c.map(|(_, c, _)| c).filter(|c| c.incarnation == *client.incarnation),
            Err(e) => return Err(store_page(st, &e)),
        };
        let covered = found.as_ref().is_some_and(|c| {
            scopes.iter().all(|s| c.scopes.contains(s)) && openid.iter().all(|o| c.openid.contains(o))
        });
        missing |= !covered;
        consents.push((key, found));
    }
    Ok(Asked { decided, openid, consents, missing })
}

/// A pending request as stored: its id (in the pages' URLs and forms), the
/// version a conditional write names, and when it lapses.
pub struct Flow {
    pub id: String,
    pub version: String,
    pub until: UnixTime,
}

/// Stores the request for the next page: updates the pending record, or
/// creates it when `/authorize` needed no page until now (a signed-in user
/// with consent given never costs one).
async fn keep(st: &AppState, flow: Option<Flow>, p: &PendingAuthorization, now: UnixTime) -> Result<Flow, Response> {
    let Ok(records) = records(st) else { return Err(no_records(st)) };
    let records = &**records;
    let written = match flow {
        Some(f) => sessions::replace(records, RecordKind::Pending, &f.id, &f.version, p, f.until, None, now)
            .await
            .map(|ok| ok.then_some(f.id)),
        None => {
            let Some(id) = browser::random(st) else { return Err(StatusCode::SERVICE_UNAVAILABLE.into_response()) };
            let until = now.plus(std::time::Duration::from_secs(PENDING_LIFETIME));
            sessions::create(records, RecordKind::Pending, &id, p, until, None, now).await.map(|ok| ok.then_some(id))
        }
    };
    let id = match written {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Err(error_page(
                st,
                StatusCode::CONFLICT,
                "Try again",
                "This sign-in changed in another tab.",
                None,
            ));
        }
        Err(e) => return Err(store_page(st, &e)),
    };
    match sessions::get::<PendingAuthorization>(records, RecordKind::Pending, &id, now).await {
        Ok(Some((version, _, until))) => Ok(Flow { id, version, until }),
        Ok(None) => Err(error_page(st, StatusCode::CONFLICT, "Try again", "This sign-in has expired.", None)),
        Err(e) => Err(store_page(st, &e)),
    }
}

/// The OpenID scopes asked for.
pub fn openid_of(scope: Option<&str>) -> Vec<String> {
    let asked: Vec<&str> = scope.map(|s| s.split(' ').collect()).unwrap_or_default();
    let has_openid = asked.contains(&"openid");
    keyward_core::grant::authorize::OPENID_SCOPES
        .iter()
        .filter(|o| asked.contains(o) && (has_openid || **o == "offline_access"))
        .map(|o| (*o).to_owned())
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn consent_page(
    st: &AppState,
    hub: &HubSnapshot,
    client: &CompiledClient,
    p: &PendingAuthorization,
    user: &User,
    decided: &[(String, Vec<String>)],
    openid: &[String],
    flow: &str,
    csrf: &str,
) -> Response {
    let resources: Vec<_> = decided
        .iter()
        .filter_map(|(id, scopes)| {
            let r = hub.resource(id)?;
            let scopes: Vec<_> = scopes
                .iter()
                .map(|s| {
                    let d = r.catalog.iter().find(|c| &c.name == s).and_then(|c| c.description.clone());
                    context! { name => s, description => d }
                })
                .collect();
            Some(context! { name => r.display_name.clone(), identifier => id, scopes })
        })
        .collect();
    let about: Vec<&str> = openid
        .iter()
        .filter_map(|o| match o.as_str() {
            "profile" => Some("your name and username"),
            "email" => Some("your email address"),
            "openid" => Some("that you are signed in (your user id)"),
            "offline_access" => Some("access while you are away (a refresh token)"),
            _ => None,
        })
        .collect();
    let shown = user.name.clone().unwrap_or_else(|| user.username.clone());
    st.pages.render(
        StatusCode::OK,
        "consent.html",
        context! {
            hub => "Keyward", assets => st.assets(), action => format!("{}/consent", st.path_prefix()),
            flow, csrf,
            client => context! {
                name => client.display_name.clone(), description => client.description.clone(), logo => client.logo_uri.clone(),
                registered => client.origin() == keyward_core::model::Origin::Dynamic,
                document_host => (client.origin() == keyward_core::model::Origin::MetadataDocument)
                    .then(|| redirect_target(&client.client_id)),
                returns_to => redirect_target(&p.redirect_uri),
            },
            user => shown, resources, openid => about,
        },
        super::pages::csp_origin(&p.redirect_uri).as_deref(),
    )
}

/// Where the browser goes after the decision, as a person reads it: the
/// host of an https or loopback URL, or the app's own scheme.
fn redirect_target(uri: &str) -> String {
    match uri.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?']).next().unwrap_or(rest).to_owned(),
        None => uri.split(':').next().unwrap_or(uri).to_owned(),
    }
}

/// Records consent (when given now), issues the code and sends the browser
/// back to the client.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    st: &AppState,
    client: &CompiledClient,
    p: &PendingAuthorization,
    user: &User,
    auth_time: u64,
    decided: &[(String, Vec<String>)],
    openid: &[String],
    consents: Vec<(String, Option<Consent>)>,
    implicit: bool,
    flow: Option<&str>,
    now: UnixTime,
) -> Response {
    let issuer = st.issuer();
    let Ok(records) = records(st) else { return no_records(st) };
    let records = &**records;
    let (_, absolute) = keyward_core::grant::refresh::lifetimes(&st.hub.load().settings, client);
    let mut consent_ids = Vec::with_capacity(decided.len());
    for ((resource, scopes), (key, found)) in decided.iter().zip(consents) {
        // Consent is remembered as the union of what was allowed so far, with
        // the user's profile as of this login (what /userinfo answers).
        let (id, mut all_scopes, mut all_openid) = match &found {
            Some(c) => (c.id.clone(), c.scopes.clone(), c.openid.clone()),
            None => match browser::random(st) {
                Some(id) => (id, Vec::new(), Vec::new()),
                None => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            },
        };
        for s in scopes {
            if !all_scopes.contains(s) {
                all_scopes.push(s.clone());
            }
        }
        for o in openid {
            if !all_openid.contains(o) {
                all_openid.push(o.clone());
            }
        }
        let consent = Consent {
            id: id.clone(),
            client_id: client.client_id.to_string(),
            incarnation: client.incarnation.to_string(),
            resource: resource.clone(),
            scopes: all_scopes,
            openid: all_openid,
            user: user.clone(),
            granted_at: found.as_ref().map_or(now.0, |c| c.granted_at),
            implicit: found.as_ref().map_or(implicit, |c| c.implicit && implicit),
        };
        // A consent lasts as long as the longest session it can carry.
        let until = now.plus(absolute);
        let index = Some(browser::digest(&user.sub));
        let wrote = match sessions::get::<Consent>(records, RecordKind::Consent, &key, now).await {
            Ok(Some((v, _, _))) => {
                sessions::replace(records, RecordKind::Consent, &key, &v, &consent, until, index, now).await
            }
            Ok(None) => sessions::create(records, RecordKind::Consent, &key, &consent, until, index, now).await,
            Err(e) => Err(e),
        };
        match wrote {
            Ok(true) => {}
            Ok(false) => {
                return error_page(
                    st,
                    StatusCode::CONFLICT,
                    "Try again",
                    "Another sign-in changed this consent at the same time.",
                    None,
                );
            }
            Err(e) => return store_page(st, &e),
        }
        consent_ids.push(id);
    }

    let (Some(code), Some(family)) = (browser::random(st), browser::random(st)) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let family_record = Family { client_id: client.client_id.to_string(), sub: user.sub.clone(), revoked: false };
    if let Err(e) =
        sessions::create(records, RecordKind::Family, &family, &family_record, now.plus(absolute), None, now).await
    {
        return store_page(st, &e);
    }
    let expires = now.plus(CODE_LIFETIME).0;
    let record = Code {
        client_id: client.client_id.to_string(),
        incarnation: client.incarnation.to_string(),
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone(),
        resources: decided.iter().map(|(r, _)| r.clone()).collect(),
        scope: p.scope.clone(),
        openid: openid.to_vec(),
        nonce: p.nonce.clone(),
        user: user.clone(),
        auth_time,
        consents: consent_ids,
        family,
        expires,
        redeemed: None,
    };
    // Kept past its expiry so a late replay still finds it and revokes what
    // the first redemption issued.
    let until = UnixTime(expires + 600);
    if let Err(e) =
        sessions::create(records, RecordKind::Code, &browser::digest(&code), &record, until, None, now).await
    {
        return store_page(st, &e);
    }
    if let Some(flow) = flow {
        let _ = records.delete(RecordKind::Pending, flow).await;
    }
    to_client(&p.redirect_uri, &[("code", &code)], p.state.as_deref(), &issuer)
}
