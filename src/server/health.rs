//! Liveness and readiness. Ready means a configuration has been compiled and
//! keys are loaded: a replica that cannot answer token requests correctly yet
//! gets no traffic.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

pub async fn live() -> &'static str {
    "ok"
}

pub async fn metrics(State(st): State<Arc<AppState>>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        st.metrics.encode(),
    )
}

pub async fn ready(State(st): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if st.is_ready() { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}
