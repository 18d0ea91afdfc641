//! The user flows' records (`keyward_core::store::Records`) as Kubernetes
//! objects, Pinniped's way: one Secret per record in the hub's namespace,
//! named `<name>-<kind>-<hash of the key>`, labelled with its kind (and the
//! hash of its index value), annotated with its expiry, holding the record in
//! `data.value`. Secrets rather than Leases because a record holds a user's
//! profile and a code's PKCE challenge: whoever may read them already may
//! read the hub's other secrets, nobody else.
//!
//! - `create` is a POST: of two replicas creating one name, the API server
//!   lets exactly one succeed (the other gets 409).
//! - `replace` is a PUT carrying the `resourceVersion` read: a record changed
//!   since is a 409, so of two replicas rotating one refresh token exactly
//!   one wins.
//! - Expired records read as absent at once; the leader's collector deletes
//!   them later (`purge_records`).
//!
//! Cost of one record: one object of about 1 KiB in etcd (name, labels,
//! annotation and the JSON value); a refresh is two API writes (the PUT of
//! the old token, the POST of its successor) and three reads.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use keyward_core::UnixTime;
use keyward_core::store::{Record, RecordKind, Records, StoreError, StoreFuture, Stored, Write};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};

use super::record::{ANNOTATION_EXPIRES, LABEL_RECORD, hash};
use super::{KubeStore, api_error, status_of};
use crate::hub_objects::{LABEL_MANAGED_BY, MANAGER, own_meta};

/// The hash of a record's index value (labels hold at most 63 characters).
pub const LABEL_INDEX: &str = "keyward.dev/index";
/// `type` of every record Secret, so `kubectl get secrets` tells them apart.
pub const SECRET_TYPE: &str = "keyward.dev/record";
const LIST_PAGE: u32 = 500;

impl KubeStore {
    fn record_name(&self, kind: RecordKind, key: &str) -> String {
        format!("{}-{}-{}", self.naming.prefix(), kind.as_str(), hash(key))
    }

    fn record_secret(&self, kind: RecordKind, key: &str, record: &Record, version: Option<&str>) -> Secret {
        let mut metadata = own_meta(&self.namespace, &self.record_name(kind, key));
        let labels = metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(LABEL_RECORD.to_owned(), kind.as_str().to_owned());
        if let Some(i) = &record.index {
            labels.insert(LABEL_INDEX.to_owned(), hash(i));
        }
        metadata.annotations = Some(BTreeMap::from([(ANNOTATION_EXPIRES.to_owned(), record.until.0.to_string())]));
        metadata.resource_version = version.map(str::to_owned);
        let mut data = BTreeMap::from([
            ("value".to_owned(), ByteString(record.value.clone())),
            ("key".to_owned(), ByteString(key.as_bytes().to_vec())),
        ]);
        if let Some(i) = &record.index {
            data.insert("index".to_owned(), ByteString(i.as_bytes().to_vec()));
        }
        Secret { metadata, type_: Some(SECRET_TYPE.to_owned()), data: Some(data), ..Secret::default() }
    }

    async fn post(&self, kind: RecordKind, key: &str, record: &Record) -> Result<Write, StoreError> {
        let secret = self.record_secret(kind, key, record, None);
        match self.call(self.secrets.create(&PostParams::default(), &secret)).await? {
            Ok(s) => Ok(Write::Done(s.metadata.resource_version.unwrap_or_default())),
            Err(e) if status_of(&e).is_some_and(|s| s.is_already_exists()) => Ok(Write::Conflict),
            Err(e) => Err(api_error(e)),
        }
    }
}

/// A record Secret back as a record; `None` when it is not one (edited by
/// hand) or has expired.
fn stored(s: Secret, now: UnixTime) -> Option<(String, Stored)> {
    let until = super::record::expiry(&s.metadata)?;
    if until <= now {
        return None;
    }
    let data = s.data?;
    let value = data.get("value")?.0.clone();
    let key = String::from_utf8(data.get("key")?.0.clone()).ok()?;
    let index = data.get("index").and_then(|i| String::from_utf8(i.0.clone()).ok());
    let version = s.metadata.resource_version?;
    Some((key, Stored { version, record: Record { value, until, index } }))
}

impl Records for KubeStore {
    fn create<'a>(&'a self, kind: RecordKind, key: &'a str, record: Record, now: UnixTime) -> StoreFuture<'a, Write> {
        Box::pin(async move {
            match self.post(kind, key, &record).await? {
                Write::Conflict => {}
                done => return Ok(done),
            }
            // Taken: by a live record, or by an expired one the collector has
            // not reached yet, which is replaced (guarded by its version).
            let name = self.record_name(kind, key);
            let existing = match self.call(self.secrets.get_opt(&name)).await? {
                Ok(s) => s,
                Err(e) => return Err(api_error(e)),
            };
            let Some(existing) = existing else { return self.post(kind, key, &record).await };
            if super::record::expiry(&existing.metadata).is_some_and(|u| u > now) {
                return Ok(Write::Conflict);
            }
            let version = existing.metadata.resource_version.clone();
            let secret = self.record_secret(kind, key, &record, version.as_deref());
            match self.call(self.secrets.replace(&name, &PostParams::default(), &secret)).await? {
                Ok(s) => Ok(Write::Done(s.metadata.resource_version.unwrap_or_default())),
                Err(e) if status_of(&e).is_some_and(|s| s.is_conflict() || s.is_not_found()) => Ok(Write::Conflict),
                Err(e) => Err(api_error(e)),
            }
        })
    }

    fn get<'a>(&'a self, kind: RecordKind, key: &'a str, now: UnixTime) -> StoreFuture<'a, Option<Stored>> {
        Box::pin(async move {
            let name = self.record_name(kind, key);
            match self.call(self.secrets.get_opt(&name)).await? {
                Ok(s) => Ok(s.and_then(|s| stored(s, now)).filter(|(k, _)| k == key).map(|(_, s)| s)),
                Err(e) => Err(api_error(e)),
            }
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
            let _ = now;
            let name = self.record_name(kind, key);
            let secret = self.record_secret(kind, key, &record, Some(expected));
            match self.call(self.secrets.replace(&name, &PostParams::default(), &secret)).await? {
                Ok(s) => Ok(Write::Done(s.metadata.resource_version.unwrap_or_default())),
                Err(e) if status_of(&e).is_some_and(|s| s.is_conflict() || s.is_not_found()) => Ok(Write::Conflict),
                Err(e) => Err(api_error(e)),
            }
        })
    }

    fn delete<'a>(&'a self, kind: RecordKind, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let name = self.record_name(kind, key);
            match self.call(self.secrets.delete(&name, &DeleteParams::default())).await? {
                Ok(_) => Ok(true),
                Err(e) if status_of(&e).is_some_and(|s| s.is_not_found()) => Ok(false),
                Err(e) => Err(api_error(e)),
            }
        })
    }

    fn list<'a>(
        &'a self,
        kind: RecordKind,
        index: Option<&'a str>,
        now: UnixTime,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Stored)>> {
        Box::pin(async move {
            let mut selector = format!("{LABEL_MANAGED_BY}={MANAGER},{LABEL_RECORD}={}", kind.as_str());
            if let Some(i) = index {
                selector.push_str(&format!(",{LABEL_INDEX}={}", hash(i)));
            }
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut lp = ListParams::default().labels(&selector).limit(LIST_PAGE);
                if let Some(c) = &cursor {
                    lp = lp.continue_token(c);
                }
                let page = match self.call(self.secrets.list(&lp)).await? {
                    Ok(p) => p,
                    Err(e) => return Err(api_error(e)),
                };
                for s in page.items {
                    if let Some(r) = stored(s, now) {
                        out.push(r);
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
                cursor = page.metadata.continue_.filter(|c| !c.is_empty());
                if cursor.is_none() {
                    return Ok(out);
                }
            }
        })
    }

    fn purge_records(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let selector = format!("{LABEL_MANAGED_BY}={MANAGER},{LABEL_RECORD}");
            let lp = ListParams::default().labels(&selector).limit(super::GC_PAGE);
            let page = match self.call(self.secrets_meta.list(&lp)).await? {
                Ok(p) => p,
                Err(e) => return Err(api_error(e)),
            };
            let expired: Vec<(String, Option<String>)> = page
                .items
                .into_iter()
                .filter(|o| super::record::is_expired(&o.metadata, now))
                .map(|o| (o.metadata.name.unwrap_or_default(), o.metadata.resource_version))
                .collect();
            let deleted: Vec<bool> = futures::stream::iter(expired)
                .map(|(name, rv)| async move {
                    let dp = DeleteParams {
                        preconditions: Some(Preconditions { resource_version: rv, uid: None }),
                        ..DeleteParams::default()
                    };
                    matches!(self.call(self.secrets.delete(&name, &dp)).await, Ok(Ok(_)))
                })
                .buffer_unordered(8)
                .collect()
                .await;
            Ok(deleted.into_iter().filter(|d| *d).count() as u64)
        })
    }
}
