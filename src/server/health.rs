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

pub async fn ready(State(st): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if st.is_ready() { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}
