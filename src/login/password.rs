//! Password checks for static users. argon2id and bcrypt are deliberately
//! slow (tens of milliseconds of CPU), so they run on the blocking pool
//! behind a semaphore sized to the cores: a burst of logins queues instead of
//! starving the token endpoint. An unknown user is checked against a dummy
//! hash of the same cost, so timing does not tell which usernames exist.

use std::sync::Arc;

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};
use tokio::sync::Semaphore;

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

/// An argon2id hash, at argon2's default parameters (m=19456 KiB, t=2, p=1:
/// OWASP's minimum, what docs/people.md tells operators to use), of a
/// password nobody can know: made once per process.
fn dummy() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let mut raw = [0u8; 32];
        let _ = aws_lc_rs::rand::fill(&mut raw);
        let salt = SaltString::encode_b64(&raw[..16]).ok();
        salt.and_then(|s| Argon2::default().hash_password(&raw[16..], &s).ok().map(|h| h.to_string()))
            .unwrap_or_default()
    })
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords { permits: Arc::new(Semaphore::new(cores)) }
    }
}

impl Passwords {
    /// Checks `password` against `hash`; `None` for an unknown user (checked
    /// against the dummy, always `Invalid`).
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Verdict {
        let Ok(_permit) = self.permits.acquire().await else { return Verdict::Invalid };
        let known = hash.is_some();
        let hash = match hash {
            Some(h) => h.to_owned(),
            None => dummy().to_owned(),
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || check(&hash, password.as_bytes())).await.unwrap_or(false);
        if ok && known { Verdict::Valid } else { Verdict::Invalid }
    }
}

fn check(hash: &str, password: &[u8]) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_and_bcrypt_hashes_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap_or_else(|_| unreachable!());
        let argon = Argon2::default().hash_password(b"s3cret", &salt).map(|h| h.to_string()).unwrap_or_default();
        let bc = bcrypt::hash_with_salt(b"s3cret", 4, *b"0123456789abcdef")
            .map(|h| h.format_for_version(bcrypt::Version::TwoB))
            .unwrap_or_default();
        let p = Passwords::default();
        assert_eq!(p.verify(Some(&argon), "s3cret").await, Verdict::Valid);
        assert_eq!(p.verify(Some(&argon), "wrong").await, Verdict::Invalid);
        assert_eq!(p.verify(Some(&bc), "s3cret").await, Verdict::Valid);
        assert_eq!(p.verify(Some(&bc), "wrong").await, Verdict::Invalid);
        assert_eq!(p.verify(None, "s3cret").await, Verdict::Invalid);
        assert_eq!(p.verify(Some("not a hash"), "s3cret").await, Verdict::Invalid);
    }
}
