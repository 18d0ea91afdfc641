//! Key material: generation, parsing, public JWKs, and signing a JWT.
//!
//! The hot path keeps each key parsed once, with its JOSE header already
//! base64url-encoded, so issuing a token is one serialization, one signature and
//! two base64 encodings. (`jsonwebtoken::encode` re-parses the key on every call,
//! which measured at about 70% of this path's speed.)

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use keyward_core::jwks::PublicJwk;
use keyward_core::keys::Algorithm;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key {kid}: the stored {alg} key material is not valid PKCS#8")]
    Rejected { kid: String, alg: &'static str },
    #[error("could not generate a {0} key")]
    Generate(&'static str),
    #[error("signing failed")]
    Sign,
}

enum Inner {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rs(RsaKeyPair),
}

/// One parsed signing key with its pre-encoded header.
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    inner: Inner,
    header_b64: String,
    id_header_b64: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// New PKCS#8 key material for `alg`.
pub fn generate(alg: Algorithm, rng: &dyn SecureRandom) -> Result<Vec<u8>, KeyError> {
    let err = || KeyError::Generate(alg.as_str());
    Ok(match alg {
        Algorithm::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).map_err(|_| err())?.as_ref().to_vec()
        }
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| err())?.as_ref().to_vec(),
        Algorithm::RS256 => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| err())?;
            kp.as_der().map_err(|_| err())?.as_ref().to_vec()
        }
    })
}

impl Signer {
    pub fn from_pkcs8(kid: &str, alg: Algorithm, pkcs8: &[u8]) -> Result<Signer, KeyError> {
        let rejected = || KeyError::Rejected { kid: kid.to_owned(), alg: alg.as_str() };
        let inner = match alg {
            Algorithm::ES256 => {
                Inner::Es(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(|_| rejected())?)
            }
            Algorithm::EdDSA => Inner::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| rejected())?),
            Algorithm::RS256 => Inner::Rs(RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| rejected())?),
        };
        // RFC 9068 §2.1: access tokens carry `typ: at+jwt`. kid is ours, so it
        // needs no escaping.
        let header = format!(r#"{{"alg":"{}","typ":"at+jwt","kid":"{}"}}"#, alg.as_str(), kid);
        // OpenID Connect ID tokens: a plain JWT, so no resource server can
        // mistake one for an access token.
        let id_header = format!(r#"{{"alg":"{}","typ":"JWT","kid":"{}"}}"#, alg.as_str(), kid);
        Ok(Signer {
            kid: kid.to_owned(),
            alg,
            inner,
            header_b64: B64.encode(header),
            id_header_b64: B64.encode(id_header),
        })
    }

    /// The public half as a JWK (RFC 7518 §6.2/§6.3, RFC 8037 §2).
    pub fn public_jwk(&self) -> PublicJwk {
        let mut jwk = PublicJwk {
            kty: String::new(),
            use_: "sig".into(),
            alg: self.alg.as_str().into(),
            kid: self.kid.clone(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.inner {
            Inner::Es(k) => {
                // Uncompressed SEC1 point: 0x04 || x || y.
                let p = k.public_key().as_ref();
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = p.get(1..33).map(|b| B64.encode(b));
                jwk.y = p.get(33..65).map(|b| B64.encode(b));
            }
            Inner::Ed(k) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(B64.encode(k.public_key().as_ref()));
            }
            Inner::Rs(k) => {
                let p = k.public_key();
                jwk.kty = "RSA".into();
                jwk.n = Some(B64.encode(p.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(B64.encode(p.exponent().big_endian_without_leading_zero()));
            }
        }
        jwk
    }

    /// A compact JWS access token over `claims` (already JSON).
    pub fn sign_jwt(&self, claims_json: &[u8], rng: &dyn SecureRandom) -> Result<String, KeyError> {
        self.sign_with(&self.header_b64, claims_json, rng)
    }

    /// A compact JWS ID token (`typ: JWT`).
    pub fn sign_id_token(&self, claims_json: &[u8], rng: &dyn SecureRandom) -> Result<String, KeyError> {
        self.sign_with(&self.id_header_b64, claims_json, rng)
    }

    fn sign_with(&self, header_b64: &str, claims_json: &[u8], rng: &dyn SecureRandom) -> Result<String, KeyError> {
        let mut out = String::with_capacity(header_b64.len() + claims_json.len() * 4 / 3 + 400);
        out.push_str(header_b64);
        out.push('.');
        B64.encode_string(claims_json, &mut out);
        match &self.inner {
            Inner::Es(k) => {
                let sig = k.sign(rng, out.as_bytes()).map_err(|_| KeyError::Sign)?;
                out.push('.');
                B64.encode_string(sig.as_ref(), &mut out);
            }
            Inner::Ed(k) => {
                let sig = k.sign(out.as_bytes());
                out.push('.');
                B64.encode_string(sig.as_ref(), &mut out);
            }
            Inner::Rs(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, rng, out.as_bytes(), &mut sig).map_err(|_| KeyError::Sign)?;
                out.push('.');
                B64.encode_string(&sig, &mut out);
            }
        }
        Ok(out)
    }
}
