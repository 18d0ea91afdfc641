//! CEL conditions of AccessPolicies (`spec.condition`): compiled and checked
//! once when a snapshot is built, evaluated per token request.
//!
//! Owns what a condition can see (one variable, `request`), the static checks
//! that turn a typo into a status with a line and column instead of a runtime
//! error on the token path, the cost bound, and evaluation. Knows nothing of a
//! policy's other selectors (`policy.rs`) nor of how a failure is treated: it
//! reports `Err` and the policy decision fails closed.
//!
//! `request` is a map:
//!
//! | field | type | |
//! |---|---|---|
//! | `client` | map | `id`, `name`, `namespace` (strings), `tags` (list), `labels` (map) |
//! | `resource` | map | `identifier`, `name`, `namespace` (strings), `labels` (map) |
//! | `subject` | string | the token's subject; `""` when it is the client itself |
//! | `roles` | list of strings | the subject's roles; empty without a subject |
//! | `tenant` | string | `""` without one |
//! | `grant` | string | the manifest spelling: `clientCredentials`, `jwtBearer`, … |
//! | `time` | timestamp | the request's time, UTC |
//!
//! The client and resource parts are fixed per client ↔ resource association,
//! so compile builds them once ([`StaticFacts`]); a request adds five fields.
//!
//! One file per phase: `parse.rs` (cel-rust's parser, its errors located),
//! `check.rs` (the static type checker, which also adds up the cost and
//! compiles literal `matches()` patterns), `cost.rs` (the cost model and its
//! bound), `eval.rs` (building `request` and running the program).

use std::collections::BTreeMap;
use std::fmt;

use cel::{Context, Program, Value};

use crate::model::GrantType;
use crate::time::UnixTime;

mod check;
mod cost;
mod eval;
mod parse;

pub use cost::MAX_COST;

/// A condition that parsed, passed the static checks and fits the cost bound.
pub struct Condition {
    source: Box<str>,
    program: Program,
    cost: u64,
    usage: eval::Usage,
    /// cel-rust's functions, with `matches()` bound to this condition's
    /// compiled patterns.
    root: Context<'static>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").field("source", &self.source).field("cost", &self.cost).finish()
    }
}

/// Why a condition was refused, at a 1-based line and column of its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ConditionError {}

/// The client facts a condition sees.
#[derive(Clone, Copy, Debug)]
pub struct ClientFacts<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub tags: &'a [String],
    pub labels: &'a BTreeMap<String, String>,
}

/// The resource facts a condition sees.
#[derive(Clone, Copy, Debug)]
pub struct ResourceFacts<'a> {
    pub identifier: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// `request.client` and `request.resource`, built once per association and
/// holding only the fields the condition reads.
#[derive(Debug)]
pub struct StaticFacts {
    client: Option<Value>,
    resource: Option<Value>,
}

/// The per-request part of `request`.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    pub subject: Option<&'a str>,
    pub roles: &'a [&'a str],
    pub tenant: Option<&'a str>,
    pub grant: GrantType,
    pub now: UnixTime,
}

impl Condition {
    /// Parses and checks `source`. Refuses syntax errors, unknown variables,
    /// fields and functions, operations on the wrong types, results that are
    /// not bools, constant sub-expressions that always fail, invalid literal
    /// regular expressions, and conditions over [`MAX_COST`].
    pub fn compile(source: &str) -> Result<Condition, ConditionError> {
        let program = parse::parse(source)?;
        let checked = check::check(source, program.expression())?;
        if !matches!(checked.ty, check::Ty::Bool | check::Ty::Dyn) {
            return Err(ConditionError {
                line: 1,
                column: 1,
                message: format!("a condition must be a bool expression; this one is {}", checked.ty.name()),
            });
        }
        cost::within_bound(checked.cost).map_err(|message| ConditionError { line: 1, column: 1, message })?;
        Ok(Condition {
            source: source.into(),
            program,
            cost: checked.cost,
            usage: checked.usage,
            root: eval::root(checked.patterns),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The estimated worst-case cost, in evaluation steps.
    pub fn cost(&self) -> u64 {
        self.cost
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn grant_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::from_manifest_name(g.manifest_name()), Some(g));
        }
        assert_eq!(GrantType::from_manifest_name("client_credentials"), None);
    }

    fn no_facts() -> StaticFacts {
        StaticFacts { client: None, resource: None }
    }

    fn request(subject: &str) -> RequestFacts<'_> {
        RequestFacts { subject: Some(subject), roles: &[], tenant: None, grant: GrantType::JwtBearer, now: UnixTime(0) }
    }

    #[test]
    fn literal_patterns_compile_with_the_condition_and_are_used_at_evaluation() {
        let c = Condition::compile("request.subject.matches('^spiffe://test/[a-z]+$')").unwrap();
        assert_eq!(c.evaluate(&no_facts(), &request("spiffe://test/agent")), Ok(true));
        assert_eq!(c.evaluate(&no_facts(), &request("spiffe://other/agent")), Ok(false));
        // A pattern computed from the request is compiled at the call.
        let dynamic = Condition::compile("request.subject.matches(request.tenant)").unwrap();
        let r = RequestFacts { tenant: Some("^a"), ..request("abc") };
        assert_eq!(dynamic.evaluate(&no_facts(), &r), Ok(true));
        let bad = RequestFacts { tenant: Some("("), ..request("abc") };
        assert!(dynamic.evaluate(&no_facts(), &bad).unwrap_err().contains("not a valid regex"));
    }

    #[test]
    fn an_invalid_literal_pattern_is_refused_at_matches_without_quoting_it() {
        let e = Condition::compile("request.subject.matches('a(b')").unwrap_err();
        assert_eq!((e.line, e.column), (1, 17));
        assert!(e.message.starts_with("invalid regular expression: "), "{}", e.message);
        assert!(!e.message.contains("a(b"), "{}", e.message);
    }
}
