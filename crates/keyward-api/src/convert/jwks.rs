//! `spec.jwks` / `spec.jwksUri` of an `OAuthClient` → `keyward_core::model::ClientKeys`.
//!
//! Keys are checked for shape and strength here, once, so the token endpoint
//! never meets a malformed manifest key: known key types and curves, members
//! that are base64url of the right length, RSA of at least 2048 bits, no
//! private members, an `alg` that fits the key, `use` of `sig`, unique `kid`s
//! (required when there are several keys).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward_core::model::{ClientKeys, EcCurve, JwsAlgorithm, PublicJwk, PublicKey};

use super::Check;
use crate::v1alpha1::common::limits;
use crate::v1alpha1::{JwkSetSpec, JwkSpec};

/// Shorter RSA moduli are refused (NIST SP 800-131A; RFC 7518 §3.3 requires
/// 2048 bits for RS256).
pub const MIN_RSA_BITS: usize = 2048;
/// Larger ones cost every verification dearly and no issuer needs them.
pub const MAX_RSA_BITS: usize = 8192;

/// Decodes a base64url member (no padding, RFC 7515 §2) or reports it.
fn member(c: &mut Check, field: &str, name: &str, value: Option<&String>) -> Option<Vec<u8>> {
    let Some(v) = value else {
        c.invalid(format!("{field}.{name}"), "is required for this key type");
        return None;
    };
    match B64.decode(v) {
        Ok(bytes) if !bytes.is_empty() => Some(bytes),
        _ => {
            c.invalid(format!("{field}.{name}"), "must be base64url without padding (RFC 7515 section 2)");
            None
        }
    }
}

fn exact_len(c: &mut Check, field: &str, name: &str, bytes: Option<Vec<u8>>, len: usize) -> bool {
    match bytes {
        Some(b) if b.len() == len => true,
        Some(b) => {
            c.invalid(format!("{field}.{name}"), format!("must decode to {len} bytes for this curve, not {}", b.len()));
            false
        }
        None => false,
    }
}

fn unused(c: &mut Check, field: &str, members: &[(&str, &Option<String>)], kty: &str) {
    for (name, value) in members {
        if value.is_some() {
            c.invalid(format!("{field}.{name}"), format!("is not a member of a {kty} key"));
        }
    }
}

fn key(c: &mut Check, field: &str, k: &JwkSpec) -> Option<PublicJwk> {
    if k.d.is_some() {
        c.invalid(
            format!("{field}.d"),
            "is a private key member: put only the public key here, and replace that key pair, since its private half has been exposed",
        );
    }
    if let Some(kid) = &k.kid
        && c.length(&format!("{field}.kid"), kid, 1, 256)
        && !kid.bytes().all(|b| b.is_ascii_graphic())
    {
        c.invalid(format!("{field}.kid"), "must be printable ASCII without spaces");
    }
    if let Some(u) = &k.use_
        && u != "sig"
    {
        c.invalid(format!("{field}.use"), "is not accepted: client keys sign (use: sig)".to_owned());
    }
    let key = match k.kty.as_str() {
        "RSA" => {
            unused(c, field, &[("crv", &k.crv), ("x", &k.x), ("y", &k.y)], "RSA");
            let n = member(c, field, "n", k.n.as_ref());
            let e = member(c, field, "e", k.e.as_ref());
            if let Some(n) = &n {
                // A leading zero byte is not part of the modulus (RFC 7518 §6.3.1.1
                // forbids it, some encoders add it anyway).
                let significant = n.iter().skip_while(|b| **b == 0).count();
                let bits = significant * 8;
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    c.invalid(
                        format!("{field}.n"),
                        format!("an RSA modulus of {bits} bits is not accepted: use {MIN_RSA_BITS} to {MAX_RSA_BITS}"),
                    );
                }
            }
            if let Some(e) = &e
                && (e.len() > 8 || e.last().is_none_or(|b| b % 2 == 0))
            {
                c.invalid(format!("{field}.e"), "is not a usable RSA public exponent");
            }
            PublicKey::Rsa { n: k.n.clone().unwrap_or_default(), e: k.e.clone().unwrap_or_default() }
        }
        "EC" => {
            unused(c, field, &[("n", &k.n), ("e", &k.e)], "EC");
            let (curve, len) = match k.crv.as_deref() {
                Some("P-256") => (EcCurve::P256, 32),
                Some("P-384") => (EcCurve::P384, 48),
                _ => {
                    c.invalid(format!("{field}.crv"), "is not accepted: use P-256 or P-384".to_owned());
                    (EcCurve::P256, 32)
                }
            };
            let x = member(c, field, "x", k.x.as_ref());
            let y = member(c, field, "y", k.y.as_ref());
            exact_len(c, field, "x", x, len);
            exact_len(c, field, "y", y, len);
            PublicKey::Ec { curve, x: k.x.clone().unwrap_or_default(), y: k.y.clone().unwrap_or_default() }
        }
        "OKP" => {
            unused(c, field, &[("n", &k.n), ("e", &k.e), ("y", &k.y)], "OKP");
            if k.crv.as_deref() != Some("Ed25519") {
                c.invalid(format!("{field}.crv"), "is not accepted: use Ed25519".to_owned());
            }
            let x = member(c, field, "x", k.x.as_ref());
            exact_len(c, field, "x", x, 32);
            PublicKey::Ed25519 { x: k.x.clone().unwrap_or_default() }
        }
        _ => {
            c.invalid(format!("{field}.kty"), "is not accepted: use RSA, EC or OKP (never oct)".to_owned());
            return None;
        }
    };
    let alg = match k.alg.as_deref() {
        None => None,
        Some(a) => match JwsAlgorithm::parse(a) {
            Some(alg) if key.algorithms().contains(&alg) => Some(alg),
            Some(alg) => {
                let fits: Vec<&str> = key.algorithms().iter().map(|a| a.as_str()).collect();
                c.invalid(
                    format!("{field}.alg"),
                    format!("{} does not fit this key: use {}", alg.as_str(), fits.join(", ")),
                );
                None
            }
            None => {
                c.invalid(
                    format!("{field}.alg"),
                    "is not accepted: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
                );
                None
            }
        },
    };
    Some(PublicJwk { kid: k.kid.clone(), alg, key })
}

fn key_set(c: &mut Check, set: &JwkSetSpec) -> Vec<PublicJwk> {
    let field = "spec.jwks.keys";
    if set.keys.is_empty() {
        c.invalid(field, "must hold at least one key");
    }
    c.max_items(field, set.keys.len(), limits::CLIENT_KEYS);
    let mut out = Vec::with_capacity(set.keys.len());
    for (i, k) in set.keys.iter().enumerate() {
        let here = format!("{field}[{i}]");
        if set.keys.len() > 1 && k.kid.is_none() {
            c.invalid(format!("{here}.kid"), "is required when there are several keys");
        }
        if let Some(kid) = &k.kid
            && let Some(first) = set.keys[..i].iter().position(|o| o.kid.as_ref() == Some(kid))
        {
            c.invalid(format!("{here}.kid"), format!("is used twice (first at {field}[{first}])"));
        }
        if let Some(key) = key(c, &here, k) {
            out.push(key);
        }
    }
    out
}

/// The keys of a `private_key_jwt` client; `None` for other methods (which
/// must not set any).
pub(crate) fn client_keys(
    c: &mut Check,
    private_key_jwt: bool,
    jwks: Option<&JwkSetSpec>,
    jwks_uri: Option<&str>,
) -> Option<ClientKeys> {
    let uri = super::oauth_client::https(c, "spec.jwksUri", jwks_uri);
    match (private_key_jwt, jwks, uri) {
        (_, Some(_), Some(_)) => {
            c.invalid("spec.jwksUri", "set jwks or jwksUri, not both");
            None
        }
        (true, Some(set), None) => Some(ClientKeys::Inline(key_set(c, set))),
        (true, None, Some(uri)) => Some(ClientKeys::Uri(uri)),
        (true, None, None) => {
            c.invalid(
                "spec.tokenEndpointAuthMethod",
                "private_key_jwt needs the client's public keys in spec.jwks or spec.jwksUri",
            );
            None
        }
        (false, Some(_), None) => {
            c.invalid("spec.jwks", "is only used with tokenEndpointAuthMethod: private_key_jwt");
            None
        }
        (false, None, Some(_)) => {
            c.invalid("spec.jwksUri", "is only used with tokenEndpointAuthMethod: private_key_jwt");
            None
        }
        (false, None, None) => None,
    }
}
