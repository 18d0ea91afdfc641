//! The digest a generated client secret is kept and compared as. Every
//! source (the folder, the cluster's Secrets) digests the secret it reads,
//! and the token endpoint digests what a client presents: one function, so
//! they cannot disagree. A 256-bit random secret needs no slow KDF: SHA-256
//! is enough and keeps `/token` fast.

use aws_lc_rs::digest::{SHA256, digest};
use keyward_core::secret::SecretDigest;

pub fn digest_secret(secret: &[u8]) -> SecretDigest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret).as_ref());
    SecretDigest(out)
}

/// What the store keeps of a handle the hub handed out (a code, a refresh
/// token, a cookie) or of a key made from user data (a consent's subject,
/// client and resource): its SHA-256, base64url. Handles carry 256 bits, so
/// a fast digest is enough.
pub fn handle_digest(handle: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest(&SHA256, handle.as_bytes()).as_ref())
}
