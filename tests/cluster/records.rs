//! The records contract (`tests/contract/records.rs`) on Kubernetes Secrets
//! in kube-apiserver 1.20: one record per Secret, created once, replaced only
//! from the resourceVersion read; two replicas racing on one refresh token
//! give exactly one winner. Each case gets its own hub namespace.

use std::sync::Arc;

use keyward::store::KubeStore;
use keyward_core::store::Records;

use crate::support::*;

#[path = "../contract/records.rs"]
mod contract;

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";

#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (kube-fullenv)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_secrets_keep_the_records_contract() {
    let Some(client) = client(VAR, "records contract").await else { return };
    contract::run_all(|| {
        let client = client.clone();
        async move {
            let ns = unique("rec");
            create_namespace(&client, &ns).await;
            Arc::new(KubeStore::new(client, &ns, "keyward").unwrap()) as Arc<dyn Records>
        }
    })
    .await;
}

/// Two replicas (two stores, two clients) race on one refresh token.
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (kube-fullenv)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_on_one_refresh_token_give_one_winner() {
    use keyward_core::UnixTime;
    use keyward_core::sessions::{self, Presented};
    use keyward_core::store::RecordKind;
    let Some(first) = client(VAR, "refresh race").await else { return };
    let ns = unique("race");
    create_namespace(&first, &ns).await;
    let a: Arc<dyn Records> = Arc::new(KubeStore::new(first, &ns, "keyward").unwrap());
    let other = client(VAR, "refresh race").await.unwrap();
    let b: Arc<dyn Records> = Arc::new(KubeStore::new(other, &ns, "keyward").unwrap());
    let now = UnixTime(2000);
    let mut wins = 0;
    for round in 0..20 {
        let key = format!("old-{round}");
        let token = contract::token_for_race(&format!("f{round}"));
        sessions::create(&*a, RecordKind::Refresh, &key, &token, UnixTime(50_000), None, now).await.unwrap();
        let pa = sessions::present_refresh(&*a, &key, now, std::time::Duration::from_secs(10)).await.unwrap();
        let pb = sessions::present_refresh(&*b, &key, now, std::time::Duration::from_secs(10)).await.unwrap();
        assert!(matches!((&pa, &pb), (Presented::Live { .. }, Presented::Live { .. })));
        let (ka, kb) = (format!("{key}-a"), format!("{key}-b"));
        let (ra, rb) = tokio::join!(
            sessions::rotate_refresh(&*a, &key, pa, &ka, &token, now),
            sessions::rotate_refresh(&*b, &key, pb, &kb, &token, now),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra ^ rb, "round {round}: exactly one replica wins ({ra}, {rb})");
        wins += 1;
    }
    assert_eq!(wins, 20);
}

/// What one refresh costs on the cluster store, measured on the real API
/// server: the store's part of a refresh (read the token, read its family,
/// read the consent, the conditional PUT of the spent token and the POST of
/// its successor) done 200 times in a row; p50 and p99 printed for
/// docs/benchmarks.md. The bound asserted is loose (a noisy 2-core machine):
/// it catches a store that waits on something it should not.
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (kube-fullenv)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_on_the_cluster_store_costs_two_writes_and_milliseconds() {
    use keyward_core::UnixTime;
    use keyward_core::sessions::{self, Family};
    use keyward_core::store::RecordKind;
    let Some(client) = client(VAR, "refresh cost").await else { return };
    let ns = unique("cost");
    create_namespace(&client, &ns).await;
    let s: Arc<dyn Records> = Arc::new(KubeStore::new(client, &ns, "keyward").unwrap());
    let now = UnixTime(2000);
    let token = contract::token_for_race("fam");
    let fam = Family { client_id: "app".into(), sub: "s".into(), revoked: false };
    sessions::create(&*s, RecordKind::Family, "fam", &fam, UnixTime(90_000), None, now).await.unwrap();
    sessions::create(&*s, RecordKind::Consent, "consent", &fam, UnixTime(90_000), None, now).await.unwrap();
    sessions::create(&*s, RecordKind::Refresh, "t0", &token, UnixTime(50_000), None, now).await.unwrap();
    let mut took = Vec::with_capacity(200);
    for i in 0..200 {
        let started = std::time::Instant::now();
        let (old, new) = (format!("t{i}"), format!("t{}", i + 1));
        let p = sessions::present_refresh(&*s, &old, now, std::time::Duration::from_secs(10)).await.unwrap();
        assert!(sessions::get::<Family>(&*s, RecordKind::Family, "fam", now).await.unwrap().is_some());
        assert!(s.get(RecordKind::Consent, "consent", now).await.unwrap().is_some());
        assert!(sessions::rotate_refresh(&*s, &old, p, &new, &token, now).await.unwrap());
        took.push(started.elapsed());
    }
    took.sort();
    let (p50, p99) = (took[took.len() / 2], took[took.len() * 99 / 100]);
    eprintln!("cluster store, one refresh (3 GETs, PUT, POST): p50 {p50:?}, p99 {p99:?} over {} refreshes", took.len());
    assert!(p99 < std::time::Duration::from_secs(2), "p99 {p99:?}");
}
