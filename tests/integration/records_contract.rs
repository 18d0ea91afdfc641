//! The records contract (`tests/contract/records.rs`) on the in-memory
//! reference and on the embedded file `keyward serve` uses.

use std::sync::Arc;

use keyward::store::{EmbeddedStore, MemoryRecords};
use keyward_core::store::Records;

#[path = "../contract/records.rs"]
mod contract;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_records_keep_the_contract() {
    contract::run_all(|| async { Arc::new(MemoryRecords::default()) as Arc<dyn Records> }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_records_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    contract::run_all(|| {
        let path = dir.path().join(format!("s{}.redb", n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
        async move { Arc::new(EmbeddedStore::open(&path).unwrap()) as Arc<dyn Records> }
    })
    .await;
}

/// A kill -9 loses nothing acknowledged: the file is reopened (redb
/// recovers) and every acknowledged record is there.
#[tokio::test]
async fn acknowledged_records_survive_a_reopen_without_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let s = EmbeddedStore::open(&path).unwrap();
    for i in 0..50 {
        let r = keyward_core::store::Record { value: vec![i], until: keyward_core::UnixTime(9999), index: None };
        s.create(keyward_core::store::RecordKind::Refresh, &format!("k{i}"), r, keyward_core::UnixTime(1))
            .await
            .unwrap();
    }
    // Leak it: no Drop, no writer join, as if the process died here.
    std::mem::forget(s);
    // redb locks the file per handle, so the file is copied as it lies on
    // disk, the state a kill -9 leaves. The real SIGKILL of a running
    // `keyward serve` is people_crash.rs.
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).unwrap();
    let s = EmbeddedStore::open(&copy).unwrap();
    for i in 0..50 {
        let got =
            s.get(keyward_core::store::RecordKind::Refresh, &format!("k{i}"), keyward_core::UnixTime(2)).await.unwrap();
        assert_eq!(got.unwrap().record.value, vec![i]);
    }
}
