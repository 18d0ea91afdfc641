//! Says what a load produced, once per change: ready objects, rejected ones
//! with the exact problem, and notes about files. Shared by `serve` (logs) and
//! `check` (a table).

use std::collections::BTreeMap;

use keyward_core::model::{Kind, ObjectKey};
use keyward_core::protected_resource;
use keyward_core::snapshot::HubSettings;
use keyward_core::status::ObjectStatus;

/// Every verdict of a load: compile's plus the loader's, sorted.
pub fn merge(mut compiled: Vec<ObjectStatus>, loader: Vec<ObjectStatus>) -> Vec<ObjectStatus> {
    compiled.extend(loader);
    compiled.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    compiled
}

/// Remembers the last verdict of each object so only changes are logged.
#[derive(Default)]
pub struct Reporter {
    last: BTreeMap<(Kind, ObjectKey), (bool, String)>,
    /// A hub's settings, when the reporter speaks for a serving hub: a
    /// Resource's line then names the protected-resource metadata the hub
    /// serves for it (what a cluster shows in the Resource's status).
    settings: Option<HubSettings>,
}

impl Reporter {
    pub fn serving(settings: HubSettings) -> Reporter {
        Reporter { last: BTreeMap::new(), settings: Some(settings) }
    }

    pub fn log(&mut self, statuses: &[ObjectStatus], notes: &[String]) {
        for n in notes {
            tracing::warn!("{n}");
        }
        let mut now = BTreeMap::new();
        for s in statuses {
            let entry = (s.ready(), s.message());
            let key = (s.kind, s.key.clone());
            if self.last.get(&key) != Some(&entry) {
                match (s.ready(), &s.client_id) {
                    // Ready, but with something that silently narrows what it does.
                    (true, _) if !s.warnings.is_empty() => {
                        tracing::warn!(kind = %s.kind, object = %s.key, "ready with warnings: {}", entry.1)
                    }
                    (true, Some(id)) => {
                        tracing::info!(kind = %s.kind, object = %s.key, client_id = %id, "ready: {}", entry.1)
                    }
                    (true, None) => match (&self.settings, s.kind) {
                        (Some(settings), Kind::Resource) => tracing::info!(
                            kind = %s.kind,
                            object = %s.key,
                            metadata = %protected_resource::url(settings, &s.key),
                            "ready: {}",
                            entry.1
                        ),
                        _ => tracing::info!(kind = %s.kind, object = %s.key, "ready: {}", entry.1),
                    },
                    (false, _) if s.settling() => {
                        tracing::info!(kind = %s.kind, object = %s.key, reason = s.reason(), "pending: {}", entry.1)
                    }
                    (false, _) => {
                        tracing::warn!(kind = %s.kind, object = %s.key, reason = s.reason(), "not ready: {}", entry.1)
                    }
                }
            }
            now.insert(key, entry);
        }
        for (kind, key) in self.last.keys().filter(|k| !now.contains_key(*k)) {
            tracing::info!(kind = %kind, object = %key, "removed");
        }
        self.last = now;
    }
}
