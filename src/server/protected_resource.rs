//! Each Resource's protected-resource metadata (RFC 9728), served under the
//! issuer at the URL its `status.protectedResourceMetadataURL` shows and its
//! challenge names. Built from the current snapshot on every request: a
//! Resource edited or removed is reflected at once, and the document is a
//! few hundred bytes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::protected_resource::document;

use super::AppState;

pub async fn metadata(State(st): State<Arc<AppState>>, Path((namespace, name)): Path<(String, String)>) -> Response {
    let hub = st.hub.load();
    let Some(r) = hub.resources().find(|r| r.key.namespace == namespace && r.key.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = serde_json::to_string(&document(&hub.settings, r)).unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            // As the hub's own metadata: a scope added to the catalog reaches
            // clients within minutes.
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=300")),
        ],
        body,
    )
        .into_response()
}
