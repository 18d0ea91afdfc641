//! What the user flows remember between requests, and the few operations on
//! it that must be atomic: redeeming a code once, rotating a refresh token
//! with exactly one winner, revoking a family. The records are serialized to
//! JSON into any [`Records`] backend; every conditional write is optimistic
//! (read, decide, write if unchanged), so the same code is correct on one
//! embedded file and on many replicas sharing the API server.
//!
//! Keys are digests of the secrets the browser or client holds (computed at
//! the edge), so a leaked store gives no usable code, token or cookie.

use std::ops::ControlFlow::{self, Break, Continue};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::identity::User;
use crate::store::{Record, RecordKind, Records, StoreError, Write};
use crate::time::UnixTime;

/// An `/authorize` request waiting for the user (login, consent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub client_id: String,
    pub incarnation: String,
    pub redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub code_challenge: String,
    /// Resource identifiers the code will be good for.
    pub resources: Vec<String>,
    /// The `scope` parameter as sent (resource and OpenID scopes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `prompt=consent`: ask even if consent was given.
    #[serde(default)]
    pub force_consent: bool,
    /// `prompt=login` or `max_age` passed: the user must log in again, even
    /// with a session.
    #[serde(default)]
    pub force_login: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// Digest of the CSRF token the pages carry.
    pub csrf: String,
    /// Digest of the browser-binding cookie set at `/authorize`: only the
    /// browser that started the request can finish it.
    pub browser: String,
    /// The leg at an upstream provider (`oidc`), while the user is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamLeg>,
    /// Set by a successful login for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
}

/// What the hub sent an upstream provider, to check what comes back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamLeg {
    /// Digest of the random half of `state` (the other half is the flow id).
    pub state: String,
    pub nonce: String,
    /// The PKCE verifier towards the upstream.
    pub verifier: String,
}

/// A browser's login at the hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    pub user: User,
    pub auth_time: u64,
}

/// A user's consent to one client for one Resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// New for every grant of consent: a refresh token names the consent it
    /// came from, so revoking and granting again does not revive old tokens.
    pub id: String,
    pub client_id: String,
    pub incarnation: String,
    pub resource: String,
    /// Resource scopes the user allowed.
    pub scopes: Vec<String>,
    /// OpenID scopes (`openid`, `profile`, `email`) the user allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openid: Vec<String>,
    /// The user as of the last login that used this consent (what `/userinfo`
    /// answers from).
    pub user: User,
    pub granted_at: u64,
    /// Given by `skipConsent`, not by the user.
    #[serde(default)]
    pub implicit: bool,
}

/// An authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    pub client_id: String,
    pub incarnation: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resources: Vec<String>,
    /// Resource scopes requested (`None`: the client's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openid: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub user: User,
    pub auth_time: u64,
    /// Consent id per resource, in `resources` order.
    pub consents: Vec<String>,
    /// The family every token of this authorization belongs to.
    pub family: String,
    pub expires: u64,
    /// Set at the first redemption: the `jti` of the access token it issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed: Option<String>,
}

/// A refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub family: String,
    pub client_id: String,
    pub incarnation: String,
    pub user: User,
    pub auth_time: u64,
    /// The resources originally granted, and the scopes granted at each:
    /// the ceiling of every refresh.
    pub grants: Vec<ResourceGrant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openid: Vec<String>,
    /// The family's absolute end (`sessionTokenTimeout`).
    pub family_expires: u64,
    /// This token's idle end (`refreshTokenTimeout`).
    pub expires: u64,
    /// When it was exchanged for a successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceGrant {
    pub resource: String,
    pub scopes: Vec<String>,
    /// The consent this grant rests on.
    pub consent: String,
}

/// A family's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    pub client_id: String,
    pub sub: String,
    #[serde(default)]
    pub revoked: bool,
}

/// The key of a consent: one per (user, client, resource). The edge digests
/// it before it reaches a backend.
pub fn consent_key(sub: &str, client_id: &str, resource: &str) -> String {
    format!("{sub}\n{client_id}\n{resource}")
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Backend(format!("encoding a record: {e}")))
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    // Where, not what: a record holds a user's profile, which a log line
    // must not quote.
    serde_json::from_slice(b).map_err(|e| {
        StoreError::Backend(format!("a stored record does not decode ({:?} at column {})", e.classify(), e.column()))
    })
}

/// Creates a record; `false` if the key is taken.
pub async fn create<T: Serialize>(
    store: &dyn Records,
    kind: RecordKind,
    key: &str,
    value: &T,
    until: UnixTime,
    index: Option<String>,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let record = Record { value: encode(value)?, until, index };
    Ok(matches!(store.create(kind, key, record, now).await?, Write::Done(_)))
}

/// Reads a record with its version.
pub async fn get<T: DeserializeOwned>(
    store: &dyn Records,
    kind: RecordKind,
    key: &str,
    now: UnixTime,
) -> Result<Option<(String, T, UnixTime)>, StoreError> {
    match store.get(kind, key, now).await? {
        None => Ok(None),
        Some(s) => Ok(Some((s.version, decode(&s.record.value)?, s.record.until))),
    }
}

/// Replaces a record if it is still at `version`; `false` on a conflict.
// Each argument is one fact of the decision; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn replace<T: Serialize>(
    store: &dyn Records,
    kind: RecordKind,
    key: &str,
    version: &str,
    value: &T,
    until: UnixTime,
    index: Option<String>,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let record = Record { value: encode(value)?, until, index };
    Ok(matches!(store.replace(kind, key, version, record, now).await?, Write::Done(_)))
}

/// How a code redemption went.
#[derive(Debug, PartialEq, Eq)]
pub enum Redemption {
    /// This call redeemed it.
    First(Code),
    /// It was redeemed before: the caller revokes what that redemption issued.
    Replayed(Code),
    Unknown,
}

/// Marks a code redeemed, with the `jti` the caller will issue. Of any number
/// of concurrent calls exactly one gets `First`.
pub async fn redeem_code(store: &dyn Records, key: &str, jti: &str, now: UnixTime) -> Result<Redemption, StoreError> {
    update(store, RecordKind::Code, key, now, |code: Option<&mut Code>| match code {
        None => Break(Redemption::Unknown),
        Some(code) if code.redeemed.is_some() => Break(Redemption::Replayed(code.clone())),
        Some(code) => {
            let first = code.clone();
            code.redeemed = Some(jti.to_owned());
            Continue(Redemption::First(first))
        }
    })
    .await
}

/// Reads a record, lets `change` decide, and writes it back only if nobody
/// wrote it since the read, reading again when somebody did. `change`
/// answers `Break(r)` to stop without writing (`None`: no such record), or
/// `Continue(r)` to write the changed record and then answer `r`.
async fn update<T, R>(
    store: &dyn Records,
    kind: RecordKind,
    key: &str,
    now: UnixTime,
    mut change: impl FnMut(Option<&mut T>) -> ControlFlow<R, R>,
) -> Result<R, StoreError>
where
    T: Serialize + DeserializeOwned,
{
    for _ in 0..4 {
        let Some((version, mut record, until)) = get::<T>(store, kind, key, now).await? else {
            return Ok(match change(None) {
                Break(r) | Continue(r) => r,
            });
        };
        let answer = match change(Some(&mut record)) {
            Break(r) => return Ok(r),
            Continue(r) => r,
        };
        if replace(store, kind, key, &version, &record, until, None, now).await? {
            return Ok(answer);
        }
    }
    Err(StoreError::Backend(format!("a {} record changed under every attempt to update it", kind.as_str())))
}

/// How a refresh token lookup went.
#[derive(Debug)]
pub enum Presented {
    /// Live (never rotated, or rotated within the grace for a concurrent
    /// retry), with the version to rotate it from.
    Live {
        version: String,
        token: RefreshToken,
        until: UnixTime,
    },
    /// Rotated before the grace: someone replays an old token.
    Reused(RefreshToken),
    Unknown,
}

/// Looks a presented refresh token up.
pub async fn present_refresh(
    store: &dyn Records,
    key: &str,
    now: UnixTime,
    grace: std::time::Duration,
) -> Result<Presented, StoreError> {
    let Some((version, token, until)) = get::<RefreshToken>(store, RecordKind::Refresh, key, now).await? else {
        return Ok(Presented::Unknown);
    };
    match token.rotated_at {
        Some(at) if now.0 > at.saturating_add(grace.as_secs()) => Ok(Presented::Reused(token)),
        _ => Ok(Presented::Live { version, token, until }),
    }
}

/// Marks `old` rotated (if it is not yet) and stores its successor under
/// `new_key`. Of any number of concurrent rotations of one live token exactly
/// one succeeds (the conditional write on the version read); the others get
/// `false` and answer `invalid_grant` without touching the family. A token
/// already rotated within the grace is a client's retry of a refresh whose
/// answer it lost: it gets another successor in the same family.
pub async fn rotate_refresh(
    store: &dyn Records,
    old_key: &str,
    old: Presented,
    new_key: &str,
    new: &RefreshToken,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let Presented::Live { version, mut token, until } = old else { return Ok(false) };
    let new_until = UnixTime(new.expires.min(new.family_expires));
    if token.rotated_at.is_some() {
        return create(store, RecordKind::Refresh, new_key, new, new_until, None, now).await;
    }
    token.rotated_at = Some(now.0);
    let old_record = Record { value: encode(&token)?, until, index: None };
    let new_record = Record { value: encode(new)?, until: new_until, index: None };
    let w = store.replace_then_create(RecordKind::Refresh, old_key, &version, old_record, new_key, new_record, now);
    Ok(matches!(w.await?, Write::Done(_)))
}

/// Revokes a family: its refresh tokens stop working at once. (Access
/// tokens already issued in it run out on their own; only the one a replayed
/// code issued is revoked by `jti`, RFC 6749 §4.1.2.)
pub async fn revoke_family(store: &dyn Records, family: &str, now: UnixTime) -> Result<(), StoreError> {
    update(store, RecordKind::Family, family, now, |f: Option<&mut Family>| match f {
        Some(f) if !f.revoked => {
            f.revoked = true;
            Continue(())
        }
        _ => Break(()),
    })
    .await
}
