//! `POST /admin/consents`: list users' consents, or revoke them, on the
//! store this hub uses (what `keyward consents` calls for a running
//! `keyward serve`, whose store file only it may open). Authenticated like
//! `/admin/explain`: client_secret_basic and the tag `keyward-admin`.
//!
//! Form fields: `action` (`list` or `revoke`), `sub` (a user's subject),
//! `client` (a client id), `resource` (a Resource identifier). `list` needs
//! none (at most 1000 answered); `revoke` needs `sub` and `client`, and
//! revokes every resource of that pair unless `resource` names one.
//! Revoking ends the refresh tokens that rest on the consent at once (the
//! next refresh is `invalid_grant`) and leaves the client as it is.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyward_core::OAuthError;
use serde_json::json;

use super::client_auth::Credentials;
use super::error::{ApiError, json_response};
use super::explain::admin_caller;
use super::token::read_body;
use super::{AppState, form};
use crate::audit::{Event, Kind, Outcome};

pub async fn handle(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut ev = st.event(Kind::AdminConsents);
    let result = answer(&st, &headers, body, &mut ev).await;
    st.answer(&ev, result.map(|r| (r, Outcome::Answered)))
}

async fn answer(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    ev: &mut Event,
) -> Result<Response, ApiError> {
    let body = read_body(body)?;
    form::require_form_content_type(headers)?;
    let form = form::parse(&body)?;
    let credentials = Credentials::read(headers, &form)?;
    let hub = st.hub.load_full();
    let now = st.now();
    admin_caller(st, &hub, &credentials, ev, now)?;
    let records = st.records.as_deref().ok_or_else(|| OAuthError::invalid_request("this hub keeps no consents"))?;
    let filter = crate::consents::Filter {
        sub: form.one("sub")?.map(str::to_owned),
        client: form.one("client")?.map(str::to_owned),
        resource: form.one("resource")?.map(str::to_owned),
    };
    match form.one("action")? {
        Some("list") => {
            let consents: Vec<serde_json::Value> = crate::consents::list(records, &filter, now)
                .await?
                .into_iter()
                .map(|c| {
                    // A consent to a client deleted since counts for nothing.
                    let live = hub.issuing_client(&c.client, &c.incarnation).is_some();
                    let mut v = serde_json::to_value(&c).unwrap_or_default();
                    v["clientLive"] = json!(live);
                    v
                })
                .collect();
            Ok(json_response(StatusCode::OK, serde_json::to_vec(&json!({ "consents": consents })).unwrap_or_default()))
        }
        Some("revoke") => {
            let (Some(sub), Some(client)) = (&filter.sub, &filter.client) else {
                return Err(OAuthError::invalid_request("revoke needs sub and client").into());
            };
            ev.subject = Some(sub.clone());
            let revoked = crate::consents::revoke(records, sub, client, filter.resource.as_deref(), now).await?;
            Ok(json_response(StatusCode::OK, serde_json::to_vec(&json!({ "revoked": revoked })).unwrap_or_default()))
        }
        _ => Err(OAuthError::invalid_request("action must be list or revoke").into()),
    }
}
