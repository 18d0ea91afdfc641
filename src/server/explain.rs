//! `POST /admin/explain`: `keyward explain` over HTTP, against the snapshot
//! this replica serves. For operators: only a client that authenticates with
//! client_secret_basic and whose OAuthClient carries the tag `keyward-admin`
//! may call it (401 `invalid_client` otherwise, 403 `access_denied` for an
//! authenticated client without the tag), since the answer shows policies and
//! other clients' associations.
//!
//! The body is a form or a JSON object with the CLI's fields: `client` (the
//! client id to explain; not `client_id`, which would be read as the caller's
//! credentials), `resource`, `scope`, `grant` (manifest spelling, default
//! `clientCredentials`), `subject`, `roles` (a list, or a string separated by
//! spaces or commas), `tenant`, `time` (Unix seconds, default now). The answer
//! is the JSON of `keyward explain --output json`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use keyward_core::grant::authenticate::{Presented, authenticate};
use keyward_core::{ErrorCode, OAuthError, UnixTime};
use serde::Deserialize;

use super::client_auth::Credentials;
use super::error::{ApiError, json_response};
use super::form::{self, Form};
use super::token::read_body;
use super::{AppState, MAX_BODY};
use crate::audit::{Event, Kind, Outcome};
use crate::explanation::{ADMIN_TAG, Query, explain};

/// The admin routes, to merge into the OAuth router (under the issuer's path).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/admin/explain", post(handle)).layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn handle(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let mut ev = st.event(Kind::AdminExplain);
    let result = answer(&st, &headers, body, &mut ev);
    st.answer(&ev, result.map(|r| (r, Outcome::Answered)))
}

/// Authenticates the caller of an admin route: client_secret_basic only,
/// and the client must carry the tag `keyward-admin`.
pub(super) fn admin_caller(
    _st: &AppState,
    hub: &keyward_core::HubSnapshot,
    credentials: &Credentials,
    ev: &mut Event,
    now: UnixTime,
) -> Result<(), ApiError> {
    if credentials.is_assertion() {
        return Err(OAuthError::invalid_client("the admin API accepts only client_secret_basic").into());
    }
    let presented = credentials.presented();
    match presented {
        Presented::Basic { .. } => {}
        Presented::Nothing => {
            return Err(OAuthError::invalid_client("client authentication is required (client_secret_basic)").into());
        }
        _ => return Err(OAuthError::invalid_client("the admin API accepts only client_secret_basic").into()),
    }
    let caller = authenticate(hub, &presented, now)?;
    ev.client_id = Some(caller.client_id.to_string());
    if !caller.tags.iter().any(|t| t == ADMIN_TAG) {
        let denied = OAuthError::new(ErrorCode::AccessDenied, format!("this client lacks the tag {ADMIN_TAG}"));
        return Err(denied.into());
    }
    Ok(())
}

/// The JSON body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonQuery {
    client: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    grant: Option<String>,
    subject: Option<String>,
    roles: Option<Roles>,
    tenant: Option<String>,
    time: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Roles {
    List(Vec<String>),
    Text(String),
}

/// The fields of either body, before validation.
struct Fields {
    client: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    grant: Option<String>,
    subject: Option<String>,
    roles: Vec<String>,
    tenant: Option<String>,
    time: Option<u64>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn answer(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ev: &mut Event,
) -> Result<Response, ApiError> {
    let body = read_body(body)?;
    // Credentials first, so nobody learns anything about the query's fate
    // before authenticating. JSON bodies carry none: Basic only.
    let (credentials, fields) = if is_json(headers) {
        (Credentials::read(headers, &Form::default())?, None)
    } else {
        form::require_form_content_type(headers).map_err(|_| {
            OAuthError::invalid_request("content type must be application/x-www-form-urlencoded or application/json")
        })?;
        let form = form::parse(&body)?;
        let credentials = Credentials::read(headers, &form)?;
        (credentials, Some(form_fields(&form)?))
    };
    let hub = st.hub.load_full();
    let now = st.now();
    admin_caller(st, &hub, &credentials, ev, now)?;

    let fields = match fields {
        Some(f) => f,
        None => json_fields(&body)?,
    };
    let client = fields.client.ok_or_else(|| OAuthError::invalid_request("client is required"))?;
    let grant = match fields.grant.as_deref() {
        None => keyward_core::model::GrantType::ClientCredentials,
        Some(g) => Query::parse_grant(g).map_err(OAuthError::invalid_request)?,
    };
    let query = Query {
        client,
        resource: fields.resource,
        scope: fields.scope,
        grant,
        subject: fields.subject,
        roles: fields.roles,
        tenant: fields.tenant,
        now: fields.time.map_or(now, UnixTime),
    };
    let report = explain(&hub, &query).map_err(|e| OAuthError::invalid_request(e.0))?;
    // Which client was explained (a registered one: explain knows it).
    ev.explained_client_id = Some(report.client_id.clone());
    ev.resource = report.resource.as_ref().map(|r| r.identifier.clone());
    let body = serde_json::to_vec(&report.to_json()).unwrap_or_default();
    Ok(json_response(StatusCode::OK, body))
}

fn form_fields(form: &Form<'_>) -> Result<Fields, OAuthError> {
    let one = |name: &str| form.one(name).map(|v| v.map(str::to_owned));
    let time = match form.one("time")? {
        None => None,
        Some(t) => Some(t.parse::<u64>().map_err(|_| OAuthError::invalid_request("time must be Unix seconds"))?),
    };
    Ok(Fields {
        client: one("client")?,
        resource: one("resource")?,
        scope: one("scope")?,
        grant: one("grant")?,
        subject: one("subject")?,
        roles: Query::split_roles(form.all("roles")),
        tenant: one("tenant")?,
        time,
    })
}

fn json_fields(body: &[u8]) -> Result<Fields, OAuthError> {
    let q: JsonQuery = serde_json::from_slice(body).map_err(|e| {
        // serde's message names the field or the position; never echoes values
        // beyond what the caller sent.
        OAuthError::invalid_request(format!("body is not a valid explain request: {e}"))
    })?;
    let roles = match q.roles {
        None => Vec::new(),
        Some(Roles::List(l)) => l,
        Some(Roles::Text(t)) => Query::split_roles([t.as_str()]),
    };
    Ok(Fields {
        client: q.client.filter(|c| !c.is_empty()),
        resource: q.resource.filter(|s| !s.is_empty()),
        scope: q.scope,
        grant: q.grant,
        subject: q.subject.filter(|s| !s.is_empty()),
        roles,
        tenant: q.tenant.filter(|s| !s.is_empty()),
        time: q.time,
    })
}
