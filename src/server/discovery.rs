//! Authorization server metadata (RFC 8414) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 §3), serialized once at start: the issuer does
//! not change while the process runs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::keys::Algorithm;
use keyward_core::snapshot::HubSettings;
use serde::Serialize;

use super::AppState;

pub struct Documents {
    oauth: String,
    openid: String,
}

#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    authorization_endpoint: String,
    userinfo_endpoint: String,
    /// RFC 7591: present when open registration is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    /// draft-ietf-oauth-client-id-metadata-document: an https URL may be a
    /// `client_id`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    client_id_metadata_document_supported: bool,
    grant_types_supported: [&'a str; 5],
    token_endpoint_auth_methods_supported: [&'a str; 4],
    /// RFC 8414 §2: required with `private_key_jwt`. Never `none`, never an HMAC.
    token_endpoint_auth_signing_alg_values_supported: [&'a str; 9],
    introspection_endpoint_auth_methods_supported: [&'a str; 3],
    introspection_endpoint_auth_signing_alg_values_supported: [&'a str; 9],
    revocation_endpoint_auth_methods_supported: [&'a str; 4],
    revocation_endpoint_auth_signing_alg_values_supported: [&'a str; 9],
    response_types_supported: [&'a str; 1],
    response_modes_supported: [&'a str; 1],
    /// PKCE is required, with S256 only (OAuth 2.1 §4.1.1).
    code_challenge_methods_supported: [&'a str; 1],
    /// RFC 9207: every authorization response names the issuer.
    authorization_response_iss_parameter_supported: bool,
    prompt_values_supported: [&'a str; 3],
    scopes_supported: [&'a str; 3],
    claims_supported: [&'a str; 11],
    /// Signing algorithms of the access tokens (RFC 9068).
    token_signing_alg_values_supported: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_types_supported: Option<[&'a str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token_signing_alg_values_supported: Option<[&'a str; 1]>,
}

const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "private_key_jwt"];
/// At the token and revocation endpoints a public client (`none`) names
/// itself with `client_id`.
const TOKEN_AUTH_METHODS: [&str; 4] = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
const AUTH_SIGNING_ALGS: [&str; 9] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

impl Documents {
    /// `registration`: whether the registration endpoint is on;
    /// `documents`: whether metadata documents are.
    pub fn new(settings: &HubSettings, alg: Algorithm, registration: bool, documents: bool) -> Documents {
        let mut m = Metadata {
            issuer: &settings.issuer,
            token_endpoint: settings.endpoint("/token"),
            jwks_uri: settings.endpoint("/jwks.json"),
            introspection_endpoint: settings.endpoint("/introspect"),
            revocation_endpoint: settings.endpoint("/revoke"),
            authorization_endpoint: settings.endpoint("/authorize"),
            userinfo_endpoint: settings.endpoint("/userinfo"),
            registration_endpoint: registration.then(|| settings.endpoint("/register")),
            client_id_metadata_document_supported: documents,
            grant_types_supported: [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
            token_endpoint_auth_methods_supported: TOKEN_AUTH_METHODS,
            token_endpoint_auth_signing_alg_values_supported: AUTH_SIGNING_ALGS,
            introspection_endpoint_auth_methods_supported: AUTH_METHODS,
            introspection_endpoint_auth_signing_alg_values_supported: AUTH_SIGNING_ALGS,
            // A public client revokes its own refresh token with `client_id`.
            revocation_endpoint_auth_methods_supported: TOKEN_AUTH_METHODS,
            revocation_endpoint_auth_signing_alg_values_supported: AUTH_SIGNING_ALGS,
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            code_challenge_methods_supported: ["S256"],
            authorization_response_iss_parameter_supported: true,
            prompt_values_supported: ["none", "login", "consent"],
            // offline_access is accepted but not listed: it changes nothing
            // here, and clients that see it listed ask for prompt=consent
            // every time (the MCP Python SDK does).
            scopes_supported: ["openid", "profile", "email"],
            claims_supported: [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "name",
                "preferred_username",
                "email",
            ],
            token_signing_alg_values_supported: [alg.as_str()],
            subject_types_supported: None,
            id_token_signing_alg_values_supported: None,
        };
        let oauth = serde_json::to_string(&m).unwrap_or_default();
        m.subject_types_supported = Some(["public"]);
        m.id_token_signing_alg_values_supported = Some([alg.as_str()]);
        let openid = serde_json::to_string(&m).unwrap_or_default();
        Documents { oauth, openid }
    }
}

fn json(body: &str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=300")),
        ],
        body.to_owned(),
    )
        .into_response()
}

pub async fn authorization_server(State(st): State<Arc<AppState>>) -> Response {
    json(&st.discovery.oauth)
}

pub async fn openid_configuration(State(st): State<Arc<AppState>>) -> Response {
    json(&st.discovery.openid)
}
