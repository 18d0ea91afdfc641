//! Verifies an access token this hub issued, for introspection and revocation.
//! JOSE parsing is jsonwebtoken's; the checks that depend on hub state (clock,
//! issuer, key set) are ours, so tests can move the clock.

use jsonwebtoken::{Validation, decode, decode_header};
use keyward_core::UnixTime;
use serde::Deserialize;

use super::AppState;
use crate::keys::jwt_algorithm;

/// Longer than any token we mint: anything bigger is not ours, and is not parsed.
const MAX_TOKEN_LEN: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
pub struct Verified {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub client_id: String,
    /// Missing in a token means no incarnation, which no live client has.
    #[serde(default)]
    pub client_incarnation: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub act: Option<serde_json::Value>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Why a token does not verify. Kept for the log; clients only learn
/// "inactive".
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
}

/// Signature, `typ`, `iss` and the claims' shape. Expiry is checked against
/// `now` unless `allow_expired`.
pub fn verify(st: &AppState, token: &str, now: UnixTime, allow_expired: bool) -> Result<Verified, Rejected> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejected::Malformed);
    }
    let header = decode_header(token).map_err(|_| Rejected::Malformed)?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(Rejected::Malformed);
    }
    let kid = header.kid.ok_or(Rejected::Malformed)?;
    let keys = st.keys.load();
    let keys = keys.as_ref().ok_or(Rejected::UnknownKey)?;
    let (alg, key) = keys.verifier(&kid).ok_or(Rejected::UnknownKey)?;
    let alg = jwt_algorithm(*alg);
    if header.alg != alg {
        return Err(Rejected::BadSignature);
    }
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let hub = st.hub.load();
    v.set_issuer(&[hub.settings.issuer.as_str()]);
    let data = decode::<Verified>(token, key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejected::BadSignature,
        _ => Rejected::Malformed,
    })?;
    if !allow_expired && now.0 >= data.claims.exp {
        return Err(Rejected::Expired);
    }
    Ok(data.claims)
}
