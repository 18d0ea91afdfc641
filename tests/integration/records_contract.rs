//! The records contract (`tests/contract/records.rs`) on the in-memory
//! reference and on the journal `keyward serve` uses.

use std::sync::Arc;

use keyward::store::{EmbeddedStore, JournalRecords, MemoryRecords};
use keyward_core::UnixTime;
use keyward_core::store::{Record, RecordKind, Records};

#[path = "../contract/records.rs"]
mod contract;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_records_keep_the_contract() {
    contract::run_all(|| async { Arc::new(MemoryRecords::default()) as Arc<dyn Records> }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    contract::run_all(|| {
        let path = dir.path().join(format!("s{}.journal", n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
        async move { Arc::new(JournalRecords::open(&path).unwrap()) as Arc<dyn Records> }
    })
    .await;
}

/// A kill -9 loses nothing acknowledged: the journal is copied as it lies
/// on disk while its writer still runs (the state a kill -9 leaves), and the
/// copy has every acknowledged record. The real SIGKILL of a running
/// `keyward serve` is people_crash.rs.
#[tokio::test]
async fn acknowledged_records_survive_a_reopen_without_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.journal");
    let s = JournalRecords::open(&path).unwrap();
    for i in 0..50 {
        let r = Record { value: vec![i], until: UnixTime(9999), index: None };
        s.create(RecordKind::Refresh, &format!("k{i}"), r, UnixTime(1)).await.unwrap();
    }
    let copy = dir.path().join("copy.journal");
    std::fs::copy(&path, &copy).unwrap();
    let s = JournalRecords::open(&copy).unwrap();
    for i in 0..50 {
        let got = s.get(RecordKind::Refresh, &format!("k{i}"), UnixTime(2)).await.unwrap();
        assert_eq!(got.unwrap().record.value, vec![i]);
    }
}

/// A state file from before the journal: its records are moved to the
/// journal at start (users stay signed in across the upgrade), and the move
/// is idempotent.
#[tokio::test]
async fn records_of_the_old_state_file_layout_are_moved_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    {
        // The old layout, written the way the old store wrote it.
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(redb::TableDefinition::<&str, &[u8]>::new("records")).unwrap();
            let mut v = 7u64.to_be_bytes().to_vec();
            v.extend_from_slice(&9999u64.to_be_bytes());
            v.extend_from_slice(&5u16.to_be_bytes());
            v.extend_from_slice(b"alice{\"consent\":1}");
            t.insert("consent\0abc", v.as_slice()).unwrap();
            t.insert("nonsense", b"x".as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let embedded = EmbeddedStore::open(&path).unwrap();
    let legacy = embedded.take_legacy_records().unwrap();
    assert_eq!(legacy.len(), 1, "the undecodable entry is skipped");
    let (kind, key, record) = &legacy[0];
    assert_eq!((*kind, key.as_str()), (RecordKind::Consent, "abc"));
    assert_eq!(
        record,
        &Record { value: b"{\"consent\":1}".to_vec(), until: UnixTime(9999), index: Some("alice".into()) }
    );
    embedded.drop_legacy_records().unwrap();
    assert!(embedded.take_legacy_records().unwrap().is_empty());
}
