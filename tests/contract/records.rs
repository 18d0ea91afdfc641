//! The `Records` contract (`keyward_core::store::Records`), run against every
//! backend: the in-memory reference and the embedded file (integration
//! tests), Kubernetes Secrets on a real API server (cluster tests). Each
//! function takes a fresh, empty store.

use std::sync::Arc;

use keyward_core::UnixTime;
use keyward_core::identity::User;
use keyward_core::sessions::{self, Presented, RefreshToken};
use keyward_core::store::{Record, RecordKind, Records, Write};

fn rec(v: &str, until: u64, index: Option<&str>) -> Record {
    Record { value: v.as_bytes().to_vec(), until: UnixTime(until), index: index.map(str::to_owned) }
}

fn done(w: &Write) -> String {
    match w {
        Write::Done(v) => v.clone(),
        Write::Conflict => panic!("expected the write to land"),
    }
}

/// Create once, read back, replace only from the version read, delete.
pub async fn create_read_replace_delete(s: Arc<dyn Records>) {
    let now = UnixTime(1000);
    let v1 = done(&s.create(RecordKind::Code, "k1", rec("a", 2000, None), now).await.unwrap());
    assert_eq!(s.create(RecordKind::Code, "k1", rec("b", 2000, None), now).await.unwrap(), Write::Conflict);
    assert!(s.get(RecordKind::Refresh, "k1", now).await.unwrap().is_none(), "kinds are separate");
    let got = s.get(RecordKind::Code, "k1", now).await.unwrap().unwrap();
    assert_eq!((got.version.as_str(), got.record.value.as_slice()), (v1.as_str(), &b"a"[..]));
    let v2 = done(&s.replace(RecordKind::Code, "k1", &v1, rec("c", 2000, None), now).await.unwrap());
    assert_ne!(v1, v2);
    assert_eq!(s.replace(RecordKind::Code, "k1", &v1, rec("d", 2000, None), now).await.unwrap(), Write::Conflict);
    assert_eq!(s.get(RecordKind::Code, "k1", now).await.unwrap().unwrap().record.value, b"c");
    assert_eq!(s.replace(RecordKind::Code, "nope", &v2, rec("x", 2000, None), now).await.unwrap(), Write::Conflict);
    assert!(s.delete(RecordKind::Code, "k1").await.unwrap());
    assert!(!s.delete(RecordKind::Code, "k1").await.unwrap());
    assert!(s.get(RecordKind::Code, "k1", now).await.unwrap().is_none());
    // A new record under a deleted key never takes an old version.
    let v3 = done(&s.create(RecordKind::Code, "k1", rec("e", 2000, None), now).await.unwrap());
    assert_eq!(s.replace(RecordKind::Code, "k1", &v1, rec("f", 2000, None), now).await.unwrap(), Write::Conflict);
    assert_ne!(v3, v1);
}

/// An expired record reads as absent before any purge, and can be created anew.
pub async fn expired_records_are_absent(s: Arc<dyn Records>) {
    s.create(RecordKind::Login, "k", rec("old", 1500, None), UnixTime(1000)).await.unwrap();
    assert!(s.get(RecordKind::Login, "k", UnixTime(1499)).await.unwrap().is_some());
    assert!(s.get(RecordKind::Login, "k", UnixTime(1500)).await.unwrap().is_none());
    done(&s.create(RecordKind::Login, "k", rec("new", 3000, None), UnixTime(1600)).await.unwrap());
    assert_eq!(s.get(RecordKind::Login, "k", UnixTime(1600)).await.unwrap().unwrap().record.value, b"new");
    s.create(RecordKind::Login, "gone", rec("x", 1700, None), UnixTime(1600)).await.unwrap();
    assert!(s.purge_records(UnixTime(2000)).await.unwrap() >= 1);
    assert!(s.get(RecordKind::Login, "k", UnixTime(2000)).await.unwrap().is_some());
}

/// Listing by index finds a user's consents and nobody else's.
pub async fn list_by_index(s: Arc<dyn Records>) {
    let now = UnixTime(1000);
    for (k, i) in [("c1", "alice"), ("c2", "alice"), ("c3", "bob")] {
        s.create(RecordKind::Consent, k, rec(k, 5000, Some(i)), now).await.unwrap();
    }
    s.create(RecordKind::Consent, "c4", rec("c4", 1001, Some("alice")), now).await.unwrap();
    let mut alice: Vec<String> = s
        .list(RecordKind::Consent, Some("alice"), UnixTime(1002), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    alice.sort();
    assert_eq!(alice, ["c1", "c2"]);
    assert_eq!(s.list(RecordKind::Consent, None, now, 100).await.unwrap().len(), 4);
    assert_eq!(s.list(RecordKind::Consent, None, now, 2).await.unwrap().len(), 2, "limit");
    assert!(s.list(RecordKind::Code, None, now, 100).await.unwrap().is_empty());
}

/// Of many concurrent creates of one key, and of many concurrent replaces
/// from one version, exactly one lands.
pub async fn exactly_one_concurrent_writer_wins(s: Arc<dyn Records>) {
    let now = UnixTime(1000);
    let creates: Vec<_> = (0..12)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.create(RecordKind::Code, "race", rec(&format!("{i}"), 5000, None), now).await })
        })
        .collect();
    let mut won = 0;
    for t in creates {
        won += usize::from(matches!(t.await.unwrap().unwrap(), Write::Done(_)));
    }
    assert_eq!(won, 1, "creates");
    let v = s.get(RecordKind::Code, "race", now).await.unwrap().unwrap().version;
    let replaces: Vec<_> = (0..12)
        .map(|i| {
            let (s, v) = (Arc::clone(&s), v.clone());
            tokio::spawn(async move {
                s.replace(RecordKind::Code, "race", &v, rec(&format!("r{i}"), 5000, None), now).await
            })
        })
        .collect();
    let mut won = 0;
    for t in replaces {
        won += usize::from(matches!(t.await.unwrap().unwrap(), Write::Done(_)));
    }
    assert_eq!(won, 1, "replaces");
}

/// A refresh token of `family`, for races outside this file.
#[allow(dead_code)]
pub fn token_for_race(family: &str) -> RefreshToken {
    token(family)
}

fn token(family: &str) -> RefreshToken {
    RefreshToken {
        family: family.into(),
        client_id: "app".into(),
        incarnation: "u1".into(),
        user: User {
            sub: "s".into(),
            provider: "id/demo".into(),
            username: "alice".into(),
            name: None,
            email: None,
            groups: vec![],
            roles: vec![],
        },
        auth_time: 1000,
        grants: vec![],
        openid: vec![],
        family_expires: 90_000,
        expires: 50_000,
        rotated_at: None,
    }
}

/// Two replicas (or two requests) racing on one refresh token: exactly one
/// rotation lands; a code is redeemed exactly once.
pub async fn one_refresh_rotation_and_one_redemption_win(s: Arc<dyn Records>) {
    let now = UnixTime(2000);
    sessions::create(&*s, RecordKind::Refresh, "old", &token("f"), UnixTime(50_000), None, now).await.unwrap();
    // Every racer reads the live token first, then all write.
    let mut presented = Vec::new();
    for _ in 0..8 {
        let p = sessions::present_refresh(&*s, "old", now, std::time::Duration::from_secs(10)).await.unwrap();
        assert!(matches!(&p, Presented::Live { token, .. } if token.rotated_at.is_none()));
        presented.push(p);
    }
    let racers: Vec<_> = presented
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                sessions::rotate_refresh(&*s, "old", p, &format!("new-{i}"), &token("f"), now).await.unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1, "rotations");
    // After the grace the old token is a reuse.
    let later =
        sessions::present_refresh(&*s, "old", UnixTime(2011), std::time::Duration::from_secs(10)).await.unwrap();
    assert!(matches!(later, Presented::Reused(_)));

    let code = keyward_core::sessions::Code {
        client_id: "app".into(),
        incarnation: "u1".into(),
        redirect_uri: "https://app/cb".into(),
        code_challenge: "c".into(),
        resources: vec![],
        scope: None,
        openid: vec![],
        nonce: None,
        user: token("f").user,
        auth_time: 1000,
        consents: vec![],
        family: "f".into(),
        expires: 2060,
        redeemed: None,
    };
    sessions::create(&*s, RecordKind::Code, "code", &code, UnixTime(3000), None, now).await.unwrap();
    let redeemers: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { sessions::redeem_code(&*s, "code", &format!("jti-{i}"), now).await.unwrap() })
        })
        .collect();
    let mut first = 0;
    for r in redeemers {
        first += usize::from(matches!(r.await.unwrap(), sessions::Redemption::First(_)));
    }
    assert_eq!(first, 1, "redemptions");
}

/// Every case, in order, each on a fresh store from `fresh`.
pub async fn run_all<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Records>>,
{
    create_read_replace_delete(fresh().await).await;
    expired_records_are_absent(fresh().await).await;
    list_by_index(fresh().await).await;
    exactly_one_concurrent_writer_wins(fresh().await).await;
    one_refresh_rotation_and_one_redemption_win(fresh().await).await;
}
