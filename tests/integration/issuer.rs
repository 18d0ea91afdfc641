//! A test issuer on 127.0.0.1: OpenID discovery, a JWKS (RS256 and ES256
//! keys), a userinfo endpoint, and misbehaving variants (slow, huge,
//! redirecting). It signs whatever header and claims a test asks for, so the
//! cases a real issuer never produces can be sent. Every request is counted
//! by path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward::keys::signer::{Signer, generate};
use keyward_core::keys::Algorithm;
use serde_json::{Value, json};

pub struct TestIssuer {
    pub base: String,
    /// The public keys, as served at `<variant>/jwks`.
    pub jwks: Value,
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
}

struct Shared {
    base: String,
    jwks: Value,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl TestIssuer {
    pub async fn start() -> TestIssuer {
        let rng = SystemRandom::new();
        let rsa_der = generate(Algorithm::RS256, &rng).unwrap();
        let ec_der = generate(Algorithm::ES256, &rng).unwrap();
        let rsa_jwk = Signer::from_pkcs8("rsa-1", Algorithm::RS256, &rsa_der).unwrap().public_jwk();
        let ec_jwk = Signer::from_pkcs8("ec-1", Algorithm::ES256, &ec_der).unwrap().public_jwk();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let public = json!({"keys": [rsa_jwk, ec_jwk]});
        let shared = Arc::new(Shared { base: base.clone(), jwks: public.clone(), hits: Arc::clone(&hits) });
        let app = Router::new()
            .route("/{tenant}/.well-known/openid-configuration", get(discovery))
            .route("/{tenant}/jwks", get(jwks))
            .route("/{tenant}/userinfo", get(userinfo))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestIssuer {
            base,
            jwks: public,
            rsa: RsaKeyPair::from_pkcs8(&rsa_der).unwrap(),
            ec: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ec_der).unwrap(),
            hits,
        }
    }

    /// The issuer URL of a variant: `good`, `slow`, `huge`, `redirect`.
    pub fn issuer(&self, variant: &str) -> String {
        format!("{}/{variant}", self.base)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn all_paths(&self) -> Vec<String> {
        self.hits.lock().unwrap().keys().cloned().collect()
    }

    /// header.claims.signature, signed with the RSA key for RS*, the EC key
    /// for ES256, and nothing for anything else.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let rng = SystemRandom::new();
        let sig = match header["alg"].as_str() {
            Some("RS256") => {
                let mut sig = vec![0u8; self.rsa.public_modulus_len()];
                self.rsa.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            Some("ES256") => self.ec.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Some("HS256") => {
                // "Signed" with the public key as HMAC secret: the classic confusion attack.
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.rsa.public_key().as_ref());
                aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
            _ => Vec::new(),
        };
        format!("{input}.{}", B64.encode(sig))
    }
}

fn count(s: &Shared, path: String) {
    *s.hits.lock().unwrap().entry(path).or_default() += 1;
}

async fn discovery(State(s): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    count(&s, format!("/{tenant}/.well-known/openid-configuration"));
    let issuer = format!("{}/{tenant}", s.base);
    axum::Json(json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"), "userinfo_endpoint": format!("{issuer}/userinfo")})).into_response()
}

async fn jwks(State(s): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    count(&s, format!("/{tenant}/jwks"));
    match tenant.as_str() {
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            axum::Json(s.jwks.clone()).into_response()
        }
        "huge" => {
            let pad = "x".repeat(4 * 1024 * 1024);
            ([(header::CONTENT_TYPE, "application/json")], format!(r#"{{"keys":[],"pad":"{pad}"}}"#)).into_response()
        }
        "redirect" => {
            (StatusCode::FOUND, [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")]).into_response()
        }
        _ => axum::Json(s.jwks.clone()).into_response(),
    }
}

/// Confirms the bearer token's `sub` — or names another user for `liar`.
async fn userinfo(State(s): State<Arc<Shared>>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    count(&s, format!("/{tenant}/userinfo"));
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(sub) = token
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| B64.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["sub"].as_str().map(str::to_owned))
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let sub = if tenant == "liar" { "someone-else".to_owned() } else { sub };
    axum::Json(json!({"sub": sub, "roles": ["reader"]})).into_response()
}
