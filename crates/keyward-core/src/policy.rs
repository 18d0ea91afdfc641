//! The scope decision:
//!
//! granted = requested ∩ resource catalog ∩ client association ∩ allow policies − deny policies
//!
//! *Allow policies* work like Kubernetes NetworkPolicies: while no allow policy
//! applies to a request, the association alone decides; once one does, only the
//! scopes some applicable allow policy names can pass. *Deny* always wins. A
//! request without `scope` asks for the client's whole association with that
//! resource (RFC 6749 §3.3 lets the server define the default).
//!
//! The same function serves the token path and `explain`: it reports each verdict
//! to a [`Trace`]; the token path passes `()`, which records nothing and costs
//! nothing.

use crate::model::{GrantType, ObjectKey};
use crate::snapshot::{Association, CompiledPolicy};

/// The request facts a decision depends on.
#[derive(Clone, Copy, Debug)]
pub struct DecisionInput<'r> {
    /// `None`: no `scope` parameter, so the default applies.
    pub requested: Option<&'r [&'r str]>,
    pub grant: GrantType,
    pub tenant: Option<&'r str>,
    /// The token's subject when it is not the client itself: the asserted
    /// subject of a JWT bearer grant (`system:serviceaccount:<ns>:<name>` for a
    /// Kubernetes service account) or of an exchanged token.
    pub subject: Option<&'r str>,
    /// Roles of that subject, when its issuer says.
    pub roles: &'r [&'r str],
    pub now: crate::time::UnixTime,
}

/// Why a scope was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The resource does not define it.
    NotInCatalog,
    /// The client's `spec.resources` entry for this resource does not list it.
    NotAssociated,
    /// Allow policies apply to this request and none of them names it.
    NotAllowed { applicable_allow: Vec<ObjectKey> },
    /// A deny policy names it.
    Denied { by: ObjectKey },
}

/// The verdict on one scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Granted by the association, and by these allow policies if any applied.
    Granted {
        allowed_by: Vec<ObjectKey>,
    },
    Removed(Removal),
}

/// Receives each verdict as it is made.
pub trait Trace {
    fn verdict(&mut self, scope: &str, verdict: impl FnOnce() -> Verdict);
}

impl Trace for () {
    #[inline]
    fn verdict(&mut self, _: &str, _: impl FnOnce() -> Verdict) {}
}

/// A complete decision, for `explain` and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    /// True when no `scope` was requested and the association's scopes were used.
    pub defaulted: bool,
    pub verdicts: Vec<(String, Verdict)>,
}

impl Trace for Explanation {
    fn verdict(&mut self, scope: &str, verdict: impl FnOnce() -> Verdict) {
        self.verdicts.push((scope.to_owned(), verdict()));
    }
}

impl Explanation {
    pub fn granted(&self) -> Vec<&str> {
        self.verdicts.iter().filter(|(_, v)| matches!(v, Verdict::Granted { .. })).map(|(s, _)| s.as_str()).collect()
    }
}

/// Decides which scopes of `input.requested` (or the default) are granted, in
/// request order.
pub fn decide<'a>(assoc: &'a Association, input: &DecisionInput<'a>, trace: &mut impl Trace) -> Vec<&'a str> {
    let applicable = |p: &&std::sync::Arc<CompiledPolicy>| p.applies(input.grant, input.tenant);
    let any_allow = assoc.policies.iter().filter(applicable).any(|p| p.effect == crate::model::Effect::Allow);
    let mut granted: Vec<&'a str> = Vec::new();
    let mut consider = |scope: &'a str| {
        if !assoc.resource.defines_scope(scope) {
            trace.verdict(scope, || Verdict::Removed(Removal::NotInCatalog));
            return;
        }
        if !assoc.scopes.iter().any(|s| &**s == scope) {
            trace.verdict(scope, || Verdict::Removed(Removal::NotAssociated));
            return;
        }
        if let Some(deny) =
            assoc.policies.iter().filter(applicable).find(|p| p.effect == crate::model::Effect::Deny && p.names(scope))
        {
            trace.verdict(scope, || Verdict::Removed(Removal::Denied { by: deny.key.clone() }));
            return;
        }
        if any_allow {
            let allowed = assoc
                .policies
                .iter()
                .filter(applicable)
                .any(|p| p.effect == crate::model::Effect::Allow && p.names(scope));
            if !allowed {
                trace.verdict(scope, || {
                    Verdict::Removed(Removal::NotAllowed {
                        applicable_allow: assoc
                            .policies
                            .iter()
                            .filter(applicable)
                            .filter(|p| p.effect == crate::model::Effect::Allow)
                            .map(|p| p.key.clone())
                            .collect(),
                    })
                });
                return;
            }
        }
        trace.verdict(scope, || Verdict::Granted {
            allowed_by: assoc
                .policies
                .iter()
                .filter(applicable)
                .filter(|p| p.effect == crate::model::Effect::Allow && p.names(scope))
                .map(|p| p.key.clone())
                .collect(),
        });
        granted.push(scope);
    };
    match input.requested {
        Some(requested) => requested.iter().for_each(|s| consider(s)),
        None => assoc.scopes.iter().for_each(|s| consider(s)),
    }
    granted
}

/// [`decide`] with a full explanation.
pub fn explain(assoc: &Association, input: &DecisionInput<'_>) -> Explanation {
    let mut e = Explanation { defaulted: input.requested.is_none(), verdicts: Vec::new() };
    decide(assoc, input, &mut e);
    e
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.defaulted {
            writeln!(f, "no scope requested: considering every scope of the client's association")?;
        }
        for (scope, v) in &self.verdicts {
            match v {
                Verdict::Granted { allowed_by } if allowed_by.is_empty() => {
                    writeln!(f, "  + {scope}: granted by the association")?
                }
                Verdict::Granted { allowed_by } => {
                    writeln!(f, "  + {scope}: granted, allowed by {}", join(allowed_by))?
                }
                Verdict::Removed(Removal::NotInCatalog) => writeln!(f, "  - {scope}: not defined by the resource")?,
                Verdict::Removed(Removal::NotAssociated) => {
                    writeln!(f, "  - {scope}: not in the client's spec.resources entry")?
                }
                Verdict::Removed(Removal::NotAllowed { applicable_allow }) => {
                    writeln!(f, "  - {scope}: allow policies apply ({}) and none names it", join(applicable_allow))?
                }
                Verdict::Removed(Removal::Denied { by }) => writeln!(f, "  - {scope}: denied by AccessPolicy {by}")?,
            }
        }
        Ok(())
    }
}

fn join(keys: &[ObjectKey]) -> String {
    keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
}
