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
