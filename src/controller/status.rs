//! Status of the three kinds, built without I/O from compile's verdicts.
//!
//! Conditions follow kstatus, so `kubectl wait --for=condition=Ready`, Flux and
//! Argo CD read them without custom code: `Ready` always; `Stalled=True` when
//! the spec itself must change (Flux reports failure); `Reconciling=True` while
//! waiting on something that may still arrive (a Secret, a Resource applied in
//! the same sync). `lastTransitionTime` moves only when a condition's status
//! does, and a status equal to the current one is not written at all.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use keyward_api::v1alpha1::{
    AccessPolicyStatus, ClientOrigin, IdentityProviderStatus, OAuthClientStatus, ResourceStatus, SecretRef,
};
use keyward_core::status::{ObjectStatus, Reason};

/// Reasons that resolve without a spec change.
fn transient(r: Reason) -> bool {
    matches!(r, Reason::SecretPending | Reason::ResourceNotFound)
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Kubernetes caps a condition message at 32768 bytes.
fn bounded(mut m: String) -> String {
    const MAX: usize = 32 * 1024;
    if m.len() > MAX {
        let mut end = MAX - 3;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
        m.push_str("...");
    }
    m
}

/// The conditions for `st`, keeping each transition time from `previous` when
/// that condition's status is unchanged.
pub fn conditions(st: &ObjectStatus, previous: &[Condition], now: &Time) -> Vec<Condition> {
    let message = bounded(st.message());
    let mut out = vec![condition("Ready", st.ready(), st.reason(), message.clone(), st.generation, now)];
    if let Some(first) = st.problems.first() {
        if transient(first.reason) {
            out.push(condition("Reconciling", true, st.reason(), message, st.generation, now));
        } else {
            out.push(condition("Stalled", true, st.reason(), message, st.generation, now));
        }
    }
    for c in &mut out {
        if let Some(p) = previous.iter().find(|p| p.type_ == c.type_ && p.status == c.status) {
            c.last_transition_time = p.last_transition_time.clone();
        }
    }
    out
}

/// Equal but for transition times (which `conditions` already carried over).
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (&x.type_, &x.status, &x.reason, &x.message, x.observed_generation)
                == (&y.type_, &y.status, &y.reason, &y.message, y.observed_generation)
        })
}

/// `secret_name` is `None` for a client with no Secret (`private_key_jwt`).
pub fn client_status(
    st: &ObjectStatus,
    secret_name: Option<&str>,
    previous: Option<&OAuthClientStatus>,
    now: &Time,
) -> OAuthClientStatus {
    OAuthClientStatus {
        client_id: st.client_id.clone(),
        secret_ref: secret_name.map(|name| SecretRef { name: name.to_owned() }),
        origin: Some(previous.and_then(|p| p.origin).unwrap_or(ClientOrigin::Manual)),
        observed_generation: st.generation,
        conditions: conditions(st, previous.map_or(&[][..], |p| &p.conditions), now),
    }
}

pub fn client_unchanged(a: &OAuthClientStatus, b: Option<&OAuthClientStatus>) -> bool {
    b.is_some_and(|b| {
        (&a.client_id, &a.secret_ref, &a.origin, a.observed_generation)
            == (&b.client_id, &b.secret_ref, &b.origin, b.observed_generation)
            && same_conditions(&a.conditions, &b.conditions)
    })
}

/// `published`: the metadata URL and the challenge naming it.
pub fn resource_status(
    st: &ObjectStatus,
    published: Option<(String, String)>,
    previous: Option<&ResourceStatus>,
    now: &Time,
) -> ResourceStatus {
    let (url, challenge) = published.unzip();
    ResourceStatus {
        observed_generation: st.generation,
        conditions: conditions(st, previous.map_or(&[][..], |p| &p.conditions), now),
        protected_resource_metadata_url: url,
        www_authenticate: challenge,
    }
}

pub fn resource_unchanged(a: &ResourceStatus, b: Option<&ResourceStatus>) -> bool {
    b.is_some_and(|b| {
        (a.observed_generation, &a.protected_resource_metadata_url, &a.www_authenticate)
            == (b.observed_generation, &b.protected_resource_metadata_url, &b.www_authenticate)
            && same_conditions(&a.conditions, &b.conditions)
    })
}

pub fn policy_status(st: &ObjectStatus, previous: Option<&AccessPolicyStatus>, now: &Time) -> AccessPolicyStatus {
    AccessPolicyStatus {
        observed_generation: st.generation,
        conditions: conditions(st, previous.map_or(&[][..], |p| &p.conditions), now),
    }
}

pub fn policy_unchanged(a: &AccessPolicyStatus, b: Option<&AccessPolicyStatus>) -> bool {
    b.is_some_and(|b| a.observed_generation == b.observed_generation && same_conditions(&a.conditions, &b.conditions))
}

pub fn provider_status(
    st: &ObjectStatus,
    callback_url: Option<String>,
    previous: Option<&IdentityProviderStatus>,
    now: &Time,
) -> IdentityProviderStatus {
    IdentityProviderStatus {
        observed_generation: st.generation,
        conditions: conditions(st, previous.map_or(&[][..], |p| &p.conditions), now),
        callback_url,
    }
}

pub fn provider_unchanged(a: &IdentityProviderStatus, b: Option<&IdentityProviderStatus>) -> bool {
    b.is_some_and(|b| {
        (a.observed_generation, &a.callback_url) == (b.observed_generation, &b.callback_url)
            && same_conditions(&a.conditions, &b.conditions)
    })
}
