//! Prometheus metrics with bounded labels: kinds, grants and RFC error codes are
//! closed sets, so no label ever carries a client id or a namespace.
//!
//! The token path increments counters bound once at start (an atomic add), not
//! looked up by label per request.

use keyward_core::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindResult {
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationResult {
    pub operation: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventResult {
    pub event: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantResult {
    pub grant: &'static str,
    pub result: &'static str,
}

/// The grants, and one more label for a request whose grant_type is missing
/// or unknown.
const GRANTS: usize = keyward_core::model::GrantType::ALL.len() + 1;

fn grant_index(grant: Option<keyward_core::model::GrantType>) -> usize {
    grant.and_then(|g| keyward_core::model::GrantType::ALL.iter().position(|x| *x == g)).unwrap_or(GRANTS - 1)
}

fn grant_label(i: usize) -> &'static str {
    keyward_core::model::GrantType::ALL.get(i).map_or("unknown", |g| g.manifest_name())
}

const CODES: [ErrorCode; 10] = [
    ErrorCode::InvalidRequest,
    ErrorCode::InvalidClient,
    ErrorCode::InvalidGrant,
    ErrorCode::UnauthorizedClient,
    ErrorCode::UnsupportedGrantType,
    ErrorCode::InvalidScope,
    ErrorCode::InvalidTarget,
    ErrorCode::UnsupportedTokenType,
    ErrorCode::ServerError,
    ErrorCode::TemporarilyUnavailable,
];

pub struct Metrics {
    registry: Registry,
    /// By grant (`GrantType::ALL` order, then requests with no known grant).
    issued: [Counter; GRANTS],
    refused: [[Counter; 10]; GRANTS],
    /// Writes the leader made, by kind (`OAuthClient`, `Secret`, `SigningKeys`…)
    /// and result (`ok`, `error`).
    pub reconciles: Family<KindResult, Counter>,
    pub reconcile_seconds: Family<Kind, Histogram>,
    /// Objects in the current snapshot, and objects left out of it.
    pub ready_objects: Family<Kind, Gauge>,
    pub not_ready_objects: Family<Kind, Gauge>,
    pub compile_seconds: Histogram,
    /// Age of the active signing key.
    pub signing_key_age_seconds: Gauge,
    pub leader: Gauge,
    /// One-time-use checks of assertions: first, replayed, error.
    one_time_use: [Counter; 3],
    /// Revocations recorded: ok, error.
    revocations: [Counter; 2],
    /// Introspections, revocations and admin calls by result, as the audit
    /// trail records them (tokens have their own counters above).
    requests: Family<EventResult, Counter>,
    /// Expired store records deleted (by this replica's collector).
    pub store_records_purged: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("keyward");
        let tokens = Family::<GrantResult, Counter>::default();
        registry.register(
            "tokens",
            "Token requests by grant and result (issued, or the OAuth error code)",
            tokens.clone(),
        );
        let bind = |grant: usize, result: &'static str| {
            tokens.get_or_create(&GrantResult { grant: grant_label(grant), result }).clone()
        };
        let issued = std::array::from_fn(|g| bind(g, "issued"));
        let refused = std::array::from_fn(|g| CODES.map(|c| bind(g, c.as_str())));
        let reconciles = Family::<KindResult, Counter>::default();
        registry.register("reconciles", "Writes to the API server by kind and result", reconciles.clone());
        let reconcile_seconds =
            Family::<Kind, Histogram>::new_with_constructor(|| Histogram::new([0.005, 0.02, 0.1, 0.5, 2.0, 10.0]));
        registry.register("reconcile_duration_seconds", "Time of one write pass by kind", reconcile_seconds.clone());
        let ready_objects = Family::<Kind, Gauge>::default();
        registry.register("snapshot_objects", "Objects in the current snapshot by kind", ready_objects.clone());
        let not_ready_objects = Family::<Kind, Gauge>::default();
        registry.register("objects_not_ready", "Objects left out of the snapshot by kind", not_ready_objects.clone());
        let compile_seconds = Histogram::new([0.001, 0.01, 0.05, 0.1, 0.5, 2.0]);
        registry.register("compile_duration_seconds", "Time to build a snapshot", compile_seconds.clone());
        let signing_key_age_seconds = Gauge::default();
        registry.register("signing_key_age_seconds", "Age of the active signing key", signing_key_age_seconds.clone());
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica holds the lease", leader.clone());
        let store_ops = Family::<OperationResult, Counter>::default();
        registry.register(
            "store_operations",
            "Store writes by operation (one_time_use, revoke) and result",
            store_ops.clone(),
        );
        let op = |operation: &'static str, result: &'static str| {
            store_ops.get_or_create(&OperationResult { operation, result }).clone()
        };
        let one_time_use = [op("one_time_use", "first"), op("one_time_use", "replayed"), op("one_time_use", "error")];
        let revocations = [op("revoke", "ok"), op("revoke", "error")];
        let requests = Family::<EventResult, Counter>::default();
        registry.register(
            "requests",
            "Introspection, revocation and admin requests by event and result (as the audit trail records them)",
            requests.clone(),
        );
        let store_records_purged = Counter::default();
        registry.register(
            "store_records_purged",
            "Expired store records deleted by this replica",
            store_records_purged.clone(),
        );
        Metrics {
            registry,
            issued,
            refused,
            reconciles,
            reconcile_seconds,
            ready_objects,
            not_ready_objects,
            compile_seconds,
            signing_key_age_seconds,
            leader,
            one_time_use,
            revocations,
            requests,
            store_records_purged,
        }
    }

    #[inline]
    pub fn token_issued(&self, grant: Option<keyward_core::model::GrantType>) {
        self.issued[grant_index(grant)].inc();
    }

    #[inline]
    pub fn token_refused(&self, grant: Option<keyward_core::model::GrantType>, code: ErrorCode) {
        if let Some(i) = CODES.iter().position(|c| *c == code) {
            self.refused[grant_index(grant)][i].inc();
        }
    }

    /// The outcome of one one-time-use check (`None`: the store failed).
    #[inline]
    pub fn one_time_use(&self, used: Option<keyward_core::store::Use>) {
        let i = match used {
            Some(keyward_core::store::Use::First) => 0,
            Some(keyward_core::store::Use::Replayed) => 1,
            None => 2,
        };
        self.one_time_use[i].inc();
    }

    #[inline]
    pub fn revocation(&self, ok: bool) {
        self.revocations[usize::from(!ok)].inc();
    }

    /// An audit event other than a token request.
    pub fn request(&self, event: &'static str, result: &'static str) {
        self.requests.get_or_create(&EventResult { event, result }).inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records a compiled snapshot's counts.
    pub fn record_statuses(&self, statuses: &[keyward_core::status::ObjectStatus]) {
        for kind in ["OAuthClient", "Resource", "AccessPolicy"] {
            let of_kind = statuses.iter().filter(|s| s.kind.to_string() == kind);
            let (ready, not): (Vec<_>, Vec<_>) = of_kind.partition(|s| s.ready());
            self.ready_objects.get_or_create(&Kind { kind }).set(ready.len() as i64);
            self.not_ready_objects.get_or_create(&Kind { kind }).set(not.len() as i64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::model::GrantType;

    #[test]
    fn token_requests_are_counted_under_their_own_grant() {
        let m = Metrics::new();
        m.token_issued(Some(GrantType::JwtBearer));
        m.token_refused(Some(GrantType::TokenExchange), ErrorCode::InvalidRequest);
        m.token_refused(None, ErrorCode::UnsupportedGrantType);
        let text = m.encode();
        for line in [
            r#"keyward_tokens_total{grant="jwtBearer",result="issued"} 1"#,
            r#"keyward_tokens_total{grant="tokenExchange",result="invalid_request"} 1"#,
            r#"keyward_tokens_total{grant="unknown",result="unsupported_grant_type"} 1"#,
            r#"keyward_tokens_total{grant="clientCredentials",result="issued"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }
}
