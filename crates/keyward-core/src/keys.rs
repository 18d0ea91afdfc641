//! The signing-key ring and its rotation, as a pure plan.
//!
//! A key goes Next → Active → Retired → removed. A Next key is published in the
//! JWKS before it signs anything, so resource servers that cache the JWKS already
//! know it when the first token signed with it arrives. A Retired key stays
//! published until every token it signed has expired. The edge stores keys and
//! executes the plan; nothing here touches key material.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::time::UnixTime;

/// JWS algorithms Keyward signs with (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    ES256,
    EdDSA,
    RS256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256].into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing (exactly one key at a time) and published.
    Active,
    /// No longer signing; published until `retired_at + retention`.
    Retired,
}

/// A key's public life, without its material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMeta {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub created_at: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<UnixTime>,
}

/// How keys rotate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The algorithm new keys get. Changing it rotates to a key of the new kind
    /// by the same publish-first path.
    pub algorithm: Algorithm,
    /// How long a key signs before its successor takes over.
    pub rotate_after: Duration,
    /// How long a Next key is published before it may sign: longer than
    /// resource servers cache the JWKS.
    pub publish_ahead: Duration,
    /// How long a Retired key stays published: at least the longest token
    /// lifetime.
    pub retain_after_retire: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            algorithm: Algorithm::ES256,
            rotate_after: Duration::from_secs(30 * 24 * 3600),
            publish_ahead: Duration::from_secs(24 * 3600),
            retain_after_retire: Duration::from_secs(24 * 3600),
        }
    }
}

/// One step for the edge to carry out, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Make a new key of this algorithm, in state Next (or Active when the ring
    /// has no active key: at first start there are no tokens to protect).
    Generate { alg: Algorithm, state: KeyState },
    /// The Next key starts signing; the Active one retires.
    Promote { next: String, retire: String },
    /// Forget a retired key whose tokens have all expired.
    Remove { kid: String },
}

/// The actions that bring `ring` in line with `policy` at `now`. Applying them
/// and planning again yields nothing more to do until time passes.
pub fn plan(ring: &[KeyMeta], policy: &RotationPolicy, now: UnixTime) -> Vec<KeyAction> {
    let mut actions = Vec::new();
    for k in ring.iter().filter(|k| k.state == KeyState::Retired) {
        let retired = k.retired_at.unwrap_or(k.created_at);
        if now >= retired.plus(policy.retain_after_retire) {
            actions.push(KeyAction::Remove { kid: k.kid.clone() });
        }
    }
    let active = ring.iter().find(|k| k.state == KeyState::Active);
    let next = ring.iter().find(|k| k.state == KeyState::Next && k.alg == policy.algorithm);
    let Some(active) = active else {
        match next {
            // A Next key already published: use it rather than minting another.
            Some(n) => actions.push(KeyAction::Promote { next: n.kid.clone(), retire: String::new() }),
            None => actions.push(KeyAction::Generate { alg: policy.algorithm, state: KeyState::Active }),
        }
        return actions;
    };
    let Some(next) = next else {
        actions.push(KeyAction::Generate { alg: policy.algorithm, state: KeyState::Next });
        return actions;
    };
    let signing_since = active.activated_at.unwrap_or(active.created_at);
    let due = active.alg != policy.algorithm || now >= signing_since.plus(policy.rotate_after);
    let published_long_enough = now >= next.created_at.plus(policy.publish_ahead);
    if due && published_long_enough {
        actions.push(KeyAction::Promote { next: next.kid.clone(), retire: active.kid.clone() });
    }
    actions
}

/// Applies a plan's bookkeeping to the ring (the edge supplies generated keys'
/// metadata for `Generate`).
pub fn apply(ring: &mut Vec<KeyMeta>, action: &KeyAction, now: UnixTime) {
    match action {
        KeyAction::Generate { .. } => {}
        KeyAction::Promote { next, retire } => {
            for k in ring.iter_mut() {
                if &k.kid == next {
                    k.state = KeyState::Active;
                    k.activated_at = Some(now);
                } else if &k.kid == retire {
                    k.state = KeyState::Retired;
                    k.retired_at = Some(now);
                }
            }
        }
        KeyAction::Remove { kid } => ring.retain(|k| &k.kid != kid),
    }
}

/// A key id that says when and what: `<alg>-<created unix seconds>-<random hex>`.
/// The random part comes from the caller.
pub fn make_kid(alg: Algorithm, now: UnixTime, random: [u8; 4]) -> String {
    format!(
        "{}-{}-{:02x}{:02x}{:02x}{:02x}",
        alg.as_str().to_ascii_lowercase(),
        now.0,
        random[0],
        random[1],
        random[2],
        random[3]
    )
}
