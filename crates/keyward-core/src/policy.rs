//! The scope decision:
//!
//! granted = requested ∩ resource catalog ∩ client association ∩ role mapping ∩ allow policies − deny policies
//!
//! *Role mapping* applies to user grants (authorization code, refresh, CIBA)
//! on `api` Resources: a scope that lists roles goes only to a user holding
//! one of them. A scope that lists none is not role-gated: a catalog written
//! before users existed keeps working, and gating is opt-in per scope.
//!
//! *Allow policies* work like Kubernetes NetworkPolicies: while no allow policy
//! applies to a request, the association alone decides; once one does, only the
//! scopes some applicable allow policy names can pass. *Deny* always wins. A
//! request without `scope` asks for the client's whole association with that
//! resource (RFC 6749 §3.3 lets the server define the default).
//!
//! Whether a policy applies: its Resource and client selectors were resolved at
//! compile time (the association lists only policies that select both); per
//! request its grant types, tenants, subject selector and condition are
//! checked, once each, in that order, cheapest first.
//!
//! *Failing closed.* A condition that fails at evaluation (or never compiled)
//! can only take scopes away: a deny policy then applies as if its condition
//! were true; an allow policy applies (so it restricts, like any applicable
//! allow) but allows nothing.
//!
//! The same function serves the token path and `explain`: it reports each
//! policy's outcome and each verdict to a [`Trace`]; the token path passes
//! `()`, which records nothing and costs nothing.

use crate::condition::RequestFacts;
use crate::model::{Effect, GrantType, ObjectKey, ResourceKind, SubjectSelector};
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
    /// Allow policies apply to this request and none of them names it (or the
    /// ones that do failed closed).
    NotAllowed { applicable_allow: Vec<ObjectKey> },
    /// A deny policy names it.
    Denied { by: ObjectKey },
    /// A user grant on an `api` Resource, and the user holds none of the
    /// roles the scope lists.
    NoRole { roles: Vec<String> },
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

/// Whether one policy of the association took part in a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// Every selector matched and the condition (if any) was true.
    Applied,
    /// The condition failed (or never compiled): the policy took part in its
    /// fail-closed form — a deny denied its scopes, an allow restricted and
    /// allowed nothing.
    FailedClosed { error: String },
    /// The policy did not apply to this request.
    Skipped(Skip),
}

/// Why a policy did not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The request's grant is not in `spec.grantTypes`.
    GrantType,
    /// The request's tenant (or its lack of one) is not in `spec.tenants`.
    Tenant,
    /// `spec.subjects` is set and the token's subject is the client itself.
    NoSubject,
    /// The subject matches none of `spec.subjects.names`.
    SubjectNames,
    /// The subject is no service account `spec.subjects.serviceAccounts` names.
    ServiceAccounts,
    /// The subject holds none of `spec.subjects.roles`.
    Roles,
    /// `spec.condition` is false for this request.
    Condition,
}

/// One policy's outcome, for an explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyEntry {
    pub key: ObjectKey,
    pub effect: Effect,
    pub scopes: Vec<String>,
    pub outcome: PolicyOutcome,
}

/// Receives each policy outcome and each verdict as they are made.
pub trait Trace {
    fn verdict(&mut self, scope: &str, verdict: impl FnOnce() -> Verdict);

    /// Called once per policy of the association, before any verdict.
    fn policy(&mut self, _policy: &CompiledPolicy, _outcome: impl FnOnce() -> PolicyOutcome) {}
}

impl Trace for () {
    #[inline]
    fn verdict(&mut self, _: &str, _: impl FnOnce() -> Verdict) {}

    #[inline]
    fn policy(&mut self, _: &CompiledPolicy, _: impl FnOnce() -> PolicyOutcome) {}
}

/// Only the scopes a decision took out, each with the rule that took it: what
/// the audit trail records of every token decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removals(pub Vec<(String, Removal)>);

impl Trace for Removals {
    fn verdict(&mut self, scope: &str, verdict: impl FnOnce() -> Verdict) {
        if let Verdict::Removed(r) = verdict() {
            self.0.push((scope.to_owned(), r));
        }
    }
}

/// A complete decision, for `explain` and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    /// True when no `scope` was requested and the association's scopes were used.
    pub defaulted: bool,
    /// Every policy that selects this client and resource, and whether it
    /// applied to the request.
    pub policies: Vec<PolicyEntry>,
    pub verdicts: Vec<(String, Verdict)>,
}

impl Trace for Explanation {
    fn verdict(&mut self, scope: &str, verdict: impl FnOnce() -> Verdict) {
        self.verdicts.push((scope.to_owned(), verdict()));
    }

    fn policy(&mut self, policy: &CompiledPolicy, outcome: impl FnOnce() -> PolicyOutcome) {
        self.policies.push(PolicyEntry {
            key: policy.key.clone(),
            effect: policy.effect,
            scopes: policy.scopes.iter().map(|s| s.to_string()).collect(),
            outcome: outcome(),
        });
    }
}

impl Explanation {
    pub fn granted(&self) -> Vec<&str> {
        self.verdicts.iter().filter(|(_, v)| matches!(v, Verdict::Granted { .. })).map(|(s, _)| s.as_str()).collect()
    }

    /// The outcome of one policy, if it selects this client and resource.
    pub fn outcome(&self, key: &ObjectKey) -> Option<&PolicyOutcome> {
        self.policies.iter().find(|p| &p.key == key).map(|p| &p.outcome)
    }
}

/// How a policy takes part in one decision.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Out,
    In,
    /// Failed closed: a deny still denies; an allow restricts but allows nothing.
    Closed,
}

/// Whether `policy` applies to the request, and if not, why. Grant type and
/// tenant first, then the subject selector, then the condition, so the CEL
/// program runs only for requests every other selector matched.
pub fn outcome(policy: &CompiledPolicy, input: &DecisionInput<'_>) -> PolicyOutcome {
    if !policy.grant_types.is_empty() && !policy.grant_types.contains(&input.grant) {
        return PolicyOutcome::Skipped(Skip::GrantType);
    }
    if !policy.tenants.is_empty() && !input.tenant.is_some_and(|t| policy.tenants.iter().any(|x| &**x == t)) {
        return PolicyOutcome::Skipped(Skip::Tenant);
    }
    if let Err(skip) = subject_matches(&policy.subjects, input.subject, input.roles) {
        return PolicyOutcome::Skipped(skip);
    }
    let Some(condition) = &policy.condition else { return PolicyOutcome::Applied };
    let program = match &condition.program {
        Ok(p) => p,
        Err(e) => return PolicyOutcome::FailedClosed { error: format!("the condition does not compile: {e}") },
    };
    let Some(facts) = &condition.facts else {
        return PolicyOutcome::FailedClosed { error: "the condition has no client or resource to look at".into() };
    };
    let request = RequestFacts {
        subject: input.subject,
        roles: input.roles,
        tenant: input.tenant,
        grant: input.grant,
        now: input.now,
    };
    match program.evaluate(facts, &request) {
        Ok(true) => PolicyOutcome::Applied,
        Ok(false) => PolicyOutcome::Skipped(Skip::Condition),
        Err(error) => PolicyOutcome::FailedClosed { error },
    }
}

/// Every criterion the selector sets must hold; within one list any entry
/// matches. A selector with criteria never matches a request without a
/// subject.
fn subject_matches(sel: &SubjectSelector, subject: Option<&str>, roles: &[&str]) -> Result<(), Skip> {
    if sel.names.is_empty() && sel.service_accounts.is_empty() && sel.roles.is_empty() {
        return Ok(());
    }
    let Some(subject) = subject else { return Err(Skip::NoSubject) };
    if !sel.names.is_empty() && !sel.names.iter().any(|p| wildcard_match(p, subject)) {
        return Err(Skip::SubjectNames);
    }
    if !sel.service_accounts.is_empty() {
        let matched = service_account(subject)
            .is_some_and(|(ns, name)| sel.service_accounts.iter().any(|p| service_account_matches(p, ns, name)));
        if !matched {
            return Err(Skip::ServiceAccounts);
        }
    }
    if !sel.roles.is_empty() && !roles.iter().any(|r| sel.roles.iter().any(|x| x == r)) {
        return Err(Skip::Roles);
    }
    Ok(())
}

/// `system:serviceaccount:<namespace>:<name>`, the username Kubernetes gives a
/// service account's tokens, as `(namespace, name)`.
pub fn service_account(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// `namespace/name`, `namespace/*`, `*/name` or `*/*`.
pub fn service_account_matches(pattern: &str, namespace: &str, name: &str) -> bool {
    pattern.split_once('/').is_some_and(|(pn, pname)| (pn == "*" || pn == namespace) && (pname == "*" || pname == name))
}

/// `*` matches any run of characters (including none, including `:`); every
/// other character matches itself.
pub fn wildcard_match(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and how much of `s` it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Decides which scopes of `input.requested` (or the default) are granted, in
/// request order.
pub fn decide<'a>(assoc: &'a Association, input: &DecisionInput<'a>, trace: &mut impl Trace) -> Vec<&'a str> {
    // Each policy's part is decided once per request, not once per scope: a
    // condition runs at most once. Up to 32 policies need no allocation.
    let n = assoc.policies.len();
    let mut inline = [Part::Out; 32];
    let mut heap = Vec::new();
    let parts: &mut [Part] = if n <= inline.len() {
        &mut inline[..n]
    } else {
        heap.resize(n, Part::Out);
        &mut heap
    };
    for (p, part) in assoc.policies.iter().zip(parts.iter_mut()) {
        let o = outcome(p, input);
        *part = match o {
            PolicyOutcome::Applied => Part::In,
            PolicyOutcome::FailedClosed { .. } => Part::Closed,
            PolicyOutcome::Skipped(_) => Part::Out,
        };
        trace.policy(p, || o);
    }
    let parts = &*parts;
    let policies = || assoc.policies.iter().zip(parts.iter().copied());
    let any_allow = policies().any(|(p, part)| p.effect == Effect::Allow && part != Part::Out);
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
        if input.grant.is_for_users()
            && assoc.resource.kind == ResourceKind::Api
            && let Some(def) = assoc.resource.catalog.iter().find(|d| d.name == scope)
            && !def.roles.is_empty()
            && !input.roles.iter().any(|r| def.roles.iter().any(|x| x == r))
        {
            trace.verdict(scope, || Verdict::Removed(Removal::NoRole { roles: def.roles.clone() }));
            return;
        }
        if let Some((deny, _)) =
            policies().find(|(p, part)| p.effect == Effect::Deny && *part != Part::Out && p.names(scope))
        {
            trace.verdict(scope, || Verdict::Removed(Removal::Denied { by: deny.key.clone() }));
            return;
        }
        let allows = |(p, part): &(&std::sync::Arc<CompiledPolicy>, Part)| {
            p.effect == Effect::Allow && *part == Part::In && p.names(scope)
        };
        if any_allow && !policies().any(|pp| allows(&pp)) {
            trace.verdict(scope, || {
                Verdict::Removed(Removal::NotAllowed {
                    applicable_allow: policies()
                        .filter(|(p, part)| p.effect == Effect::Allow && *part != Part::Out)
                        .map(|(p, _)| p.key.clone())
                        .collect(),
                })
            });
            return;
        }
        trace.verdict(scope, || Verdict::Granted {
            allowed_by: policies().filter(|pp| allows(pp)).map(|(p, _)| p.key.clone()).collect(),
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
    let mut e = Explanation { defaulted: input.requested.is_none(), policies: Vec::new(), verdicts: Vec::new() };
    decide(assoc, input, &mut e);
    e
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skip::GrantType => "the request's grant is not in spec.grantTypes",
            Skip::Tenant => "the request's tenant is not in spec.tenants",
            Skip::NoSubject => "spec.subjects is set and the token has no subject besides the client",
            Skip::SubjectNames => "the subject matches none of spec.subjects.names",
            Skip::ServiceAccounts => "the subject is no service account spec.subjects.serviceAccounts names",
            Skip::Roles => "the subject holds none of spec.subjects.roles",
            Skip::Condition => "spec.condition is false",
        })
    }
}

impl std::fmt::Display for PolicyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = format!("{} {} ({})", self.effect.as_str(), self.key, self.scopes.join(" "));
        match &self.outcome {
            PolicyOutcome::Applied => write!(f, "applies   {what}"),
            PolicyOutcome::Skipped(why) => write!(f, "skipped   {what}: {why}"),
            PolicyOutcome::FailedClosed { error } => {
                let how = match self.effect {
                    Effect::Deny => "denies as if the condition were true",
                    Effect::Allow => "restricts and allows nothing",
                };
                write!(f, "failed    {what}: {how}: {error}")
            }
        }
    }
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.policies.is_empty() {
            writeln!(f, "policies that select this client and resource:")?;
            for p in &self.policies {
                writeln!(f, "  {p}")?;
            }
        }
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
                    writeln!(f, "  - {scope}: allow policies apply ({}) and none allows it", join(applicable_allow))?
                }
                Verdict::Removed(Removal::Denied { by }) => writeln!(f, "  - {scope}: denied by AccessPolicy {by}")?,
                Verdict::Removed(Removal::NoRole { roles }) => {
                    writeln!(f, "  - {scope}: the user holds none of its roles ({})", roles.join(", "))?
                }
            }
        }
        Ok(())
    }
}

fn join(keys: &[ObjectKey]) -> String {
    keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
}
