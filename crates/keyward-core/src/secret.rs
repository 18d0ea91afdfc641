//! Client secrets as the core holds them: a SHA-256 digest, never the value.
//!
//! Generated secrets carry 256 bits of entropy, so a fast digest is enough: there is
//! nothing for a slow KDF to protect against, and `/token` must not pay for one.
//! The digest itself is computed at the edge (one crypto provider for the binary);
//! the core only compares, in constant time.

use crate::time::UnixTime;
use subtle::ConstantTimeEq;

/// SHA-256 of a client secret. `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest(pub [u8; 32]);

impl std::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

impl SecretDigest {
    /// Constant-time comparison: the time taken does not depend on where the
    /// digests first differ.
    pub fn matches(&self, presented: &SecretDigest) -> bool {
        bool::from(self.0.ct_eq(&presented.0))
    }
}

/// The secrets a client may authenticate with right now. During a rotation the
/// previous secret keeps working until `previous_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecrets {
    pub current: SecretDigest,
    pub previous: Option<(SecretDigest, UnixTime)>,
}

impl ClientSecrets {
    pub fn single(current: SecretDigest) -> Self {
        ClientSecrets { current, previous: None }
    }

    /// Both candidates are always compared, so timing does not reveal which one
    /// matched or whether a previous secret exists.
    pub fn verify(&self, presented: &SecretDigest, now: UnixTime) -> bool {
        let current = self.current.matches(presented);
        let previous = match &self.previous {
            Some((digest, until)) => digest.matches(presented) & (now < *until),
            None => self.current.matches(presented) & false,
        };
        current | previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> SecretDigest {
        SecretDigest([b; 32])
    }

    #[test]
    fn current_secret_matches_and_others_do_not() {
        let s = ClientSecrets::single(d(1));
        assert!(s.verify(&d(1), UnixTime(0)));
        assert!(!s.verify(&d(2), UnixTime(0)));
    }

    #[test]
    fn previous_secret_works_until_its_grace_ends_and_not_after() {
        let s = ClientSecrets { current: d(1), previous: Some((d(2), UnixTime(100))) };
        assert!(s.verify(&d(2), UnixTime(99)));
        assert!(!s.verify(&d(2), UnixTime(100)));
        assert!(s.verify(&d(1), UnixTime(1000)));
    }

    #[test]
    fn digest_debug_never_shows_bytes() {
        assert_eq!(format!("{:?}", d(0xab)), "SecretDigest(..)");
    }
}
