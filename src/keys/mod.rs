//! Signing keys at the edge: material, persistence, and the published set.
//!
//! [`KeySet`] is what the server reads (one active signer, the JWKS already
//! serialized, a verifier per published key). It is rebuilt and swapped whole
//! when the ring changes. Rotation decisions are the core's
//! (`keyward_core::keys::plan`); this module only carries them out.

pub mod file;
pub mod signer;

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;
use keyward_core::jwks::{JwkSet, PublicJwk};
use keyward_core::keys::{Algorithm, KeyMeta, KeyState};

pub use signer::{KeyError, Signer};

/// Key material as stored: metadata plus PKCS#8.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredKey {
    #[serde(flatten)]
    pub meta: KeyMeta,
    /// base64 (standard) PKCS#8 DER.
    pub pkcs8: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey").field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// The stored form of a key ring: a file for `keyward serve`, the `keys.json`
/// of a Secret in a cluster.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub struct KeyFile {
    pub keys: Vec<StoredKey>,
}

/// The keys in force.
pub struct KeySet {
    pub active: Signer,
    /// `{"keys":[…]}` of every published key (Next, Active, Retired).
    pub jwks_json: String,
    verifiers: HashMap<String, (Algorithm, DecodingKey)>,
    pub ring: Vec<KeyMeta>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("active", &self.active.kid).field("ring", &self.ring).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("the key ring has no active key")]
    NoActiveKey,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("key {0}: stored material is not base64")]
    Encoding(String),
    #[error("key {kid}: cannot build a verifier: {source}")]
    Verifier { kid: String, source: jsonwebtoken::errors::Error },
}

impl KeySet {
    pub fn build(stored: &[StoredKey]) -> Result<KeySet, KeySetError> {
        use base64::Engine;
        let mut active = None;
        let mut jwks = JwkSet::default();
        let mut verifiers = HashMap::new();
        for k in stored {
            let der = base64::engine::general_purpose::STANDARD
                .decode(&k.pkcs8)
                .map_err(|_| KeySetError::Encoding(k.meta.kid.clone()))?;
            let signer = Signer::from_pkcs8(&k.meta.kid, k.meta.alg, &der)?;
            let jwk = signer.public_jwk();
            verifiers.insert(k.meta.kid.clone(), (k.meta.alg, decoding_key(&jwk)?));
            jwks.keys.push(jwk);
            if k.meta.state == KeyState::Active {
                active = Some(signer);
            }
        }
        let active = active.ok_or(KeySetError::NoActiveKey)?;
        // Serializing a struct of strings cannot fail.
        let jwks_json = serde_json::to_string(&jwks).unwrap_or_else(|_| String::from(r#"{"keys":[]}"#));
        Ok(KeySet { active, jwks_json, verifiers, ring: stored.iter().map(|k| k.meta.clone()).collect() })
    }

    /// The verification key for `kid`, if it is published.
    pub fn verifier(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.verifiers.get(kid)
    }
}

fn decoding_key(jwk: &PublicJwk) -> Result<DecodingKey, KeySetError> {
    let err = |source| KeySetError::Verifier { kid: jwk.kid.clone(), source };
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    match jwk.kty.as_str() {
        "EC" => DecodingKey::from_ec_components(&s(&jwk.x), &s(&jwk.y)).map_err(err),
        "OKP" => DecodingKey::from_ed_components(&s(&jwk.x)).map_err(err),
        _ => DecodingKey::from_rsa_components(&s(&jwk.n), &s(&jwk.e)).map_err(err),
    }
}

pub fn jwt_algorithm(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
    }
}
