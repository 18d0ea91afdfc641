//! The leader's collector of expired store records: without it every
//! revocation and every one-time use would stay in the API server for ever
//! (Dex's pile-ups). Only the Lease holder collects, so replicas do not race
//! to delete the same objects; a pass is bounded (`store::kube`), and a pass
//! that hit its bound is followed by another soon after.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch as channel;

use crate::server::AppState;
use crate::store::kube::GC_DELETES_PER_PASS;

/// Pause after a pass that deleted as much as a pass may: more is waiting.
const CATCH_UP: Duration = Duration::from_secs(1);

pub async fn collect_loop(state: Arc<AppState>, mut leader: channel::Receiver<bool>, every: Duration) {
    loop {
        if !*leader.borrow_and_update() {
            if leader.changed().await.is_err() {
                return;
            }
            continue;
        }
        // The user flows' records (codes, sessions, refresh tokens) expire too.
        if let Some(records) = &state.records {
            match records.purge_records(state.now()).await {
                Ok(n) => {
                    state.metrics.store_records_purged.inc_by(n);
                }
                Err(e) => tracing::warn!(error = %e, "cannot collect expired user-flow records; retrying next pass"),
            };
        }
        let wait = match state.store.purge(state.now()).await {
            Ok(n) => {
                state.metrics.store_records_purged.inc_by(n);
                if n > 0 {
                    tracing::debug!(deleted = n, "expired store records collected");
                }
                if n >= GC_DELETES_PER_PASS { CATCH_UP } else { every }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot collect expired store records; retrying next pass");
                every
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            r = leader.changed() => if r.is_err() { return },
        }
    }
}
