//! The user flows' records (`keyward_core::store::Records`) in memory, and the
//! byte layout the embedded store kept them in before the journal. The
//! in-memory map is the reference implementation of the contract: tests run
//! it beside the journal (`tests/integration/records_contract.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use keyward_core::UnixTime;
use keyward_core::store::{Record, RecordKind, Records, StoreError, StoreFuture, Stored, Write};

use super::memory::poisoned;

/// Records in a map, with one version counter for all of them: a record
/// deleted and created again never gets a version an old reader holds.
#[derive(Default)]
pub struct MemoryRecords {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    map: BTreeMap<(RecordKind, String), (u64, Record)>,
}

impl Inner {
    fn live(&self, kind: RecordKind, key: &str, now: UnixTime) -> Option<&(u64, Record)> {
        self.map.get(&(kind, key.to_owned())).filter(|(_, r)| r.until > now)
    }

    fn bump(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

impl Records for MemoryRecords {
    fn create<'a>(&'a self, kind: RecordKind, key: &'a str, record: Record, now: UnixTime) -> StoreFuture<'a, Write> {
        Box::pin(async move {
            let mut m = self.inner.lock().map_err(poisoned)?;
            if m.live(kind, key, now).is_some() {
                return Ok(Write::Conflict);
            }
            let v = m.bump();
            m.map.insert((kind, key.to_owned()), (v, record));
            Ok(Write::Done(v.to_string()))
        })
    }

    fn get<'a>(&'a self, kind: RecordKind, key: &'a str, now: UnixTime) -> StoreFuture<'a, Option<Stored>> {
        Box::pin(async move {
            let m = self.inner.lock().map_err(poisoned)?;
            Ok(m.live(kind, key, now).map(|(v, r)| Stored { version: v.to_string(), record: r.clone() }))
        })
    }

    fn replace<'a>(
        &'a self,
        kind: RecordKind,
        key: &'a str,
        expected: &'a str,
        record: Record,
        now: UnixTime,
    ) -> StoreFuture<'a, Write> {
        Box::pin(async move {
            let mut m = self.inner.lock().map_err(poisoned)?;
            match m.live(kind, key, now) {
                Some((v, _)) if v.to_string() == expected => {}
                _ => return Ok(Write::Conflict),
            }
            let v = m.bump();
            m.map.insert((kind, key.to_owned()), (v, record));
            Ok(Write::Done(v.to_string()))
        })
    }

    fn delete<'a>(&'a self, kind: RecordKind, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(self.inner.lock().map_err(poisoned)?.map.remove(&(kind, key.to_owned())).is_some()) })
    }

    fn list<'a>(
        &'a self,
        kind: RecordKind,
        index: Option<&'a str>,
        now: UnixTime,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Stored)>> {
        Box::pin(async move {
            let m = self.inner.lock().map_err(poisoned)?;
            Ok(m.map
                .iter()
                .filter(|((k, _), (_, r))| {
                    *k == kind && r.until > now && index.is_none_or(|i| r.index.as_deref() == Some(i))
                })
                .take(limit)
                .map(|((_, key), (v, r))| (key.clone(), Stored { version: v.to_string(), record: r.clone() }))
                .collect())
        })
    }

    fn purge_records(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut m = self.inner.lock().map_err(poisoned)?;
            let before = m.map.len();
            m.map.retain(|_, (_, r)| r.until > now);
            Ok((before - m.map.len()) as u64)
        })
    }
}

/// version (8) | until (8) | index length (2) | index | value: the old
/// embedded layout, read once to move records to the journal.
pub(crate) fn decode(b: &[u8]) -> Result<(u64, Record), StoreError> {
    let bad = || StoreError::Backend("a stored record is truncated".into());
    let version = u64::from_be_bytes(b.get(0..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let until = u64::from_be_bytes(b.get(8..16).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let n = u16::from_be_bytes(b.get(16..18).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
    let index = b.get(18..18 + n).ok_or_else(bad)?;
    let index = (!index.is_empty()).then(|| String::from_utf8_lossy(index).into_owned());
    let value = b.get(18 + n..).ok_or_else(bad)?.to_vec();
    Ok((version, Record { value, until: UnixTime(until), index }))
}
