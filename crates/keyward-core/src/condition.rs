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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock, RwLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::extractors::This;
use cel::objects::Key;
use cel::{Context, ExecutionError, FunctionContext, Program, Value};

use crate::model::GrantType;
use crate::time::UnixTime;

/// The most a condition may cost, in evaluation steps, when every list it
/// iterates is as long as it can be. Keeps one policy from stalling the token
/// path; a plain condition costs a few dozen.
pub const MAX_COST: u64 = 100_000;

/// Lists whose length the hub does not bound are assumed this long when the
/// cost is estimated.
const UNBOUNDED_LIST: u64 = 128;

/// The root context every evaluation starts from: the standard functions,
/// built once, with a `matches()` that reuses compiled patterns.
static ROOT: LazyLock<Context<'static>> = LazyLock::new(|| {
    let mut ctx = Context::default();
    ctx.add_function("matches", matches);
    ctx
});

/// Compiled `matches()` patterns. cel-rust compiles the pattern at every call
/// (some 20 µs); patterns come from policies, so there are few. Bounded, in
/// case a condition builds patterns from request data.
static REGEXES: LazyLock<RwLock<HashMap<String, regex::Regex>>> = LazyLock::new(Default::default);
const MAX_CACHED_REGEXES: usize = 256;

fn matches(ftx: &FunctionContext, This(this): This<Arc<String>>, pattern: Arc<String>) -> Result<bool, ExecutionError> {
    if let Some(re) = REGEXES.read().ok().and_then(|m| m.get(pattern.as_str()).map(|re| re.is_match(&this))) {
        return Ok(re);
    }
    let re = regex::Regex::new(&pattern).map_err(|e| ftx.error(format!("'{pattern}' is not a valid regex: {e}")))?;
    let found = re.is_match(&this);
    if let Ok(mut m) = REGEXES.write()
        && m.len() < MAX_CACHED_REGEXES
    {
        m.insert(pattern.to_string(), re);
    }
    Ok(found)
}

/// A condition that parsed, passed the static checks and fits the cost bound.
pub struct Condition {
    source: Box<str>,
    program: Program,
    cost: u64,
    usage: Usage,
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

/// Which fields of `request` a condition reads: a bit per entry of
/// `REQUEST_FIELDS`, `CLIENT_FIELDS` and `RESOURCE_FIELDS`. Only those are
/// built per request, so a condition that reads the tenant pays for the
/// tenant alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    request: u16,
    client: u16,
    resource: u16,
}

const ALL: u16 = u16::MAX;

fn bit(fields: &[(&str, Ty)], field: &str) -> u16 {
    fields.iter().position(|(f, _)| *f == field).map_or(0, |i| 1 << i)
}

fn key(k: &str) -> Key {
    Key::String(Arc::new(k.to_owned()))
}

fn string(s: &str) -> Value {
    Value::String(Arc::new(s.to_owned()))
}

fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    Value::List(Arc::new(items.iter().map(|s| string(s.as_ref())).collect()))
}

fn labels(l: &BTreeMap<String, String>) -> Value {
    Value::from(l.iter().map(|(k, v)| (key(k), string(v))).collect::<HashMap<Key, Value>>())
}

/// A map of the `used` fields among `fields`, each built by `value`.
fn map_of(fields: &[(&str, Ty)], used: u16, value: impl Fn(&str) -> Value) -> Value {
    Value::from(
        fields
            .iter()
            .enumerate()
            .filter(|(i, _)| used & (1 << i) != 0)
            .map(|(_, (f, _))| (key(f), value(f)))
            .collect::<HashMap<Key, Value>>(),
    )
}

fn timestamp(now: UnixTime) -> Value {
    let secs = i64::try_from(now.0).unwrap_or(i64::MAX);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => Value::Timestamp(t.fixed_offset()),
        // Beyond chrono's range (year 262143): no request carries such a time.
        None => Value::Null,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Int(_) => "an int",
        Value::UInt(_) => "a uint",
        Value::Float(_) => "a double",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "a bool",
        Value::Duration(_) => "a duration",
        Value::Timestamp(_) => "a timestamp",
        Value::Null => "null",
        _ => "a value that is not a bool",
    }
}

impl Condition {
    /// Parses and checks `source`. Refuses syntax errors, unknown variables,
    /// fields and functions, operations on the wrong types, results that are
    /// not bools, constant sub-expressions that always fail, and conditions
    /// over [`MAX_COST`].
    pub fn compile(source: &str) -> Result<Condition, ConditionError> {
        if source.trim().is_empty() {
            return Err(ConditionError { line: 1, column: 1, message: "the condition is empty".into() });
        }
        // cel-rust reports errors as values; the unwind guard is for the
        // parser's own internal assertions, so a hostile string cannot take
        // the hub down.
        let program = match catch_unwind(|| Program::compile(source)) {
            Ok(Ok(p)) => p,
            Ok(Err(errors)) => {
                let first = errors.errors.first();
                // cel-rust's positions are a 1-based line and column.
                let (line, column) = first
                    .map_or((1, 1), |e| (usize::try_from(e.pos.0).unwrap_or(1), usize::try_from(e.pos.1).unwrap_or(1)));
                let message = first.map_or("", |e| e.msg.as_str());
                return Err(ConditionError {
                    line: line.max(1),
                    column: column.max(1),
                    message: syntax_message(message),
                });
            }
            Err(_) => {
                return Err(ConditionError {
                    line: 1,
                    column: 1,
                    message: "the CEL parser failed on this condition".into(),
                });
            }
        };
        let mut checker = Checker { source, scope: Vec::new(), usage: Usage::default() };
        let checked = checker.check(program.expression())?;
        if !matches!(checked.ty, Ty::Bool | Ty::Dyn) {
            return Err(ConditionError {
                line: 1,
                column: 1,
                message: format!("a condition must be a bool expression; this one is {}", checked.ty.name()),
            });
        }
        if checked.cost > MAX_COST {
            return Err(ConditionError {
                line: 1,
                column: 1,
                message: format!(
                    "the condition may cost up to {} evaluation steps, more than the {MAX_COST} allowed; iterate over fewer or shorter lists",
                    checked.cost
                ),
            });
        }
        Ok(Condition { source: source.into(), program, cost: checked.cost, usage: checker.usage })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// `request.client` and `request.resource` for one association, reduced to
    /// the fields this condition reads.
    pub fn facts(&self, client: ClientFacts<'_>, resource: ResourceFacts<'_>) -> StaticFacts {
        let u = self.usage;
        let client = (u.request & bit(REQUEST_FIELDS, "client") != 0).then(|| {
            map_of(CLIENT_FIELDS, u.client, |f| match f {
                "id" => string(client.id),
                "name" => string(client.name),
                "namespace" => string(client.namespace),
                "tags" => strings(client.tags),
                _ => labels(client.labels),
            })
        });
        let resource = (u.request & bit(REQUEST_FIELDS, "resource") != 0).then(|| {
            map_of(RESOURCE_FIELDS, u.resource, |f| match f {
                "identifier" => string(resource.identifier),
                "name" => string(resource.name),
                "namespace" => string(resource.namespace),
                _ => labels(resource.labels),
            })
        });
        StaticFacts { client, resource }
    }

    fn request(&self, facts: &StaticFacts, req: &RequestFacts<'_>) -> Value {
        map_of(REQUEST_FIELDS, self.usage.request, |f| match f {
            "client" => facts.client.clone().unwrap_or(Value::Null),
            "resource" => facts.resource.clone().unwrap_or(Value::Null),
            "subject" => string(req.subject.unwrap_or("")),
            "roles" => strings(req.roles),
            "tenant" => string(req.tenant.unwrap_or("")),
            "grant" => string(req.grant.manifest_name()),
            _ => timestamp(req.now),
        })
    }

    /// The estimated worst-case cost, in evaluation steps.
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// Evaluates the condition for one request. `Err` carries what went wrong
    /// (a missing map key, a failing function, a result that is not a bool);
    /// the caller decides what an error means.
    pub fn evaluate(&self, facts: &StaticFacts, req: &RequestFacts<'_>) -> Result<bool, String> {
        let request = self.request(facts, req);
        let run = || {
            let mut ctx = ROOT.new_inner_scope();
            ctx.add_variable_from_value("request", request);
            self.program.execute(&ctx)
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Ok(Value::Bool(b))) => Ok(b),
            Ok(Ok(other)) => Err(format!("the condition evaluated to {}, not a bool", type_name(&other))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the CEL interpreter failed on this condition".into()),
        }
    }
}

fn syntax_message(msg: &str) -> String {
    let msg = msg.strip_prefix("Syntax error: ").unwrap_or(msg);
    if msg.is_empty() { "syntax error".to_owned() } else { format!("syntax error: {msg}") }
}

// ---------------------------------------------------------------------------
// Static checks: a small type checker over cel-rust's AST. cel-rust has none
// of its own, so without this `request.tenat == 'x'` would be a runtime error
// on every request (and a deny policy would deny everything).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Null,
    Timestamp,
    Duration,
    List,
    Map,
    /// Not known statically: an iteration variable, a label value.
    Dyn,
    Request,
    Client,
    Resource,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a bool",
            Ty::Int => "an int",
            Ty::Uint => "a uint",
            Ty::Double => "a double",
            Ty::String => "a string",
            Ty::Bytes => "bytes",
            Ty::Null => "null",
            Ty::Timestamp => "a timestamp",
            Ty::Duration => "a duration",
            Ty::List => "a list",
            Ty::Map | Ty::Request | Ty::Client | Ty::Resource => "a map",
            Ty::Dyn => "a value",
        }
    }

    fn is_map(self) -> bool {
        matches!(self, Ty::Map | Ty::Request | Ty::Client | Ty::Resource)
    }

    fn is_number(self) -> bool {
        matches!(self, Ty::Int | Ty::Uint | Ty::Double)
    }

    /// Values of these two types can be equal.
    fn comparable(self, other: Ty) -> bool {
        self == Ty::Dyn
            || other == Ty::Dyn
            || self == other
            || (self.is_number() && other.is_number())
            || (self.is_map() && other.is_map())
    }
}

const REQUEST_FIELDS: &[(&str, Ty)] = &[
    ("client", Ty::Client),
    ("resource", Ty::Resource),
    ("subject", Ty::String),
    ("roles", Ty::List),
    ("tenant", Ty::String),
    ("grant", Ty::String),
    ("time", Ty::Timestamp),
];
const CLIENT_FIELDS: &[(&str, Ty)] =
    &[("id", Ty::String), ("name", Ty::String), ("namespace", Ty::String), ("tags", Ty::List), ("labels", Ty::Map)];
const RESOURCE_FIELDS: &[(&str, Ty)] =
    &[("identifier", Ty::String), ("name", Ty::String), ("namespace", Ty::String), ("labels", Ty::Map)];

/// What the checker knows about a sub-expression.
#[derive(Clone, Copy, Debug)]
struct Checked {
    ty: Ty,
    /// Worst-case evaluation steps.
    cost: u64,
    /// For lists and maps: the most entries it can have.
    size: u64,
}

impl Checked {
    fn of(ty: Ty, cost: u64) -> Checked {
        Checked { ty, cost, size: 0 }
    }
}

struct Checker<'s> {
    source: &'s str,
    /// Comprehension variables in scope.
    scope: Vec<String>,
    usage: Usage,
}

impl Checker<'_> {
    /// An error located at the first occurrence of `needle` in the source (the
    /// AST keeps no positions once parsing succeeded).
    fn error(&self, needle: &str, message: String) -> ConditionError {
        let (line, column) = locate(self.source, needle, false);
        ConditionError { line, column, message }
    }

    /// An error at a variable: an occurrence of `name` not after a `.`.
    fn error_at_variable(&self, name: &str, message: String) -> ConditionError {
        let (line, column) = locate(self.source, name, true);
        ConditionError { line, column, message }
    }

    fn check(&mut self, e: &IdedExpr) -> Result<Checked, ConditionError> {
        match &e.expr {
            Expr::Literal(l) => Ok(Checked::of(
                match l {
                    LiteralValue::Boolean(_) => Ty::Bool,
                    LiteralValue::Bytes(_) => Ty::Bytes,
                    LiteralValue::Double(_) => Ty::Double,
                    LiteralValue::Int(_) => Ty::Int,
                    LiteralValue::Null => Ty::Null,
                    LiteralValue::String(_) => Ty::String,
                    LiteralValue::UInt(_) => Ty::Uint,
                },
                1,
            )),
            Expr::Ident(name) => {
                if self.scope.iter().any(|v| v == name) {
                    Ok(Checked { ty: Ty::Dyn, cost: 1, size: UNBOUNDED_LIST })
                } else if name == "request" {
                    // `request` as a whole (iterated, indexed, compared).
                    self.usage = Usage { request: ALL, client: ALL, resource: ALL };
                    Ok(Checked::of(Ty::Request, 1))
                } else {
                    Err(self.error_at_variable(
                        name,
                        format!("undeclared reference to '{name}': a condition sees one variable, 'request'"),
                    ))
                }
            }
            Expr::Select(s) => {
                let operand = match self.request_operand(&s.operand) {
                    Some(c) => c,
                    None => self.check(&s.operand)?,
                };
                let fields = match operand.ty {
                    Ty::Request => Some(("request", REQUEST_FIELDS)),
                    Ty::Client => Some(("request.client", CLIENT_FIELDS)),
                    Ty::Resource => Some(("request.resource", RESOURCE_FIELDS)),
                    Ty::Map | Ty::Dyn => None,
                    other => {
                        return Err(self.error(
                            &format!(".{}", s.field),
                            format!("'.{}' selects a field of {}, which has none", s.field, other.name()),
                        ));
                    }
                };
                let (ty, size) = match fields {
                    None => (Ty::Dyn, UNBOUNDED_LIST),
                    Some((what, fields)) => {
                        let Some((_, ty)) = fields.iter().find(|(f, _)| *f == s.field) else {
                            let known: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
                            return Err(self.error(
                                &format!(".{}", s.field),
                                format!("{what} has no field '{}'; it has {}", s.field, known.join(", ")),
                            ));
                        };
                        self.uses(operand.ty, &s.field);
                        (*ty, bound_of(what, &s.field))
                    }
                };
                let ty = if s.test { Ty::Bool } else { ty };
                Ok(Checked { ty, cost: operand.cost + 1, size })
            }
            Expr::List(l) => {
                let mut cost = 1;
                for el in &l.elements {
                    cost += self.check(el)?.cost;
                }
                Ok(Checked { ty: Ty::List, cost, size: l.elements.len() as u64 })
            }
            Expr::Map(m) => {
                let mut cost = 1;
                for entry in &m.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(me) => {
                            cost += self.check(&me.key)?.cost + self.check(&me.value)?.cost;
                        }
                        EntryExpr::StructField(f) => {
                            return Err(
                                self.error(&f.field, "message fields are not supported in conditions".to_owned())
                            );
                        }
                    }
                }
                Ok(Checked { ty: Ty::Map, cost, size: m.entries.len() as u64 })
            }
            Expr::Struct(s) => Err(self.error(
                &s.type_name,
                format!("message construction ('{}{{…}}') is not supported in conditions", s.type_name),
            )),
            Expr::Comprehension(c) => {
                if c.iter_var2.is_some() {
                    return Err(self.error(&c.iter_var, "two-variable comprehensions are not supported".to_owned()));
                }
                let range = self.check(&c.iter_range)?;
                if !matches!(range.ty, Ty::List | Ty::Map | Ty::Dyn) && !range.ty.is_map() {
                    return Err(self.error(&c.iter_var, format!("cannot iterate over {}", range.ty.name())));
                }
                let init = self.check(&c.accu_init)?;
                self.scope.push(c.iter_var.clone());
                self.scope.push(c.accu_var.clone());
                let body = self.check(&c.loop_cond).and_then(|cond| Ok((cond, self.check(&c.loop_step)?)));
                let result = match (&body, &c.result.expr) {
                    (Ok(_), Expr::Ident(v)) if *v == c.accu_var => Ok(Checked::of(init.ty, 1)),
                    (Ok(_), _) => self.check(&c.result),
                    (Err(e), _) => Err(e.clone()),
                };
                self.scope.truncate(self.scope.len() - 2);
                let (cond, step) = body?;
                let result = result?;
                let per_item = cond.cost.saturating_add(step.cost);
                let cost = range
                    .cost
                    .saturating_add(init.cost)
                    .saturating_add(range.size.max(1).saturating_mul(per_item))
                    .saturating_add(result.cost);
                Ok(Checked { ty: result.ty, cost, size: range.size })
            }
            Expr::Call(call) => self.call(e, call),
            Expr::Unspecified => Err(self.error("", "incomplete expression".to_owned())),
        }
    }

    fn is_request(&self, e: &IdedExpr) -> bool {
        matches!(&e.expr, Expr::Ident(n) if n == "request" && !self.scope.iter().any(|v| v == "request"))
    }

    /// `request` or `request.client` / `request.resource` as the operand of a
    /// field selection: the selection records what it reads, so the operand
    /// itself need not be built whole.
    fn request_operand(&mut self, e: &IdedExpr) -> Option<Checked> {
        if self.is_request(e) {
            return Some(Checked::of(Ty::Request, 1));
        }
        match &e.expr {
            Expr::Select(s) if !s.test && self.is_request(&s.operand) => {
                let ty = match s.field.as_str() {
                    "client" => Ty::Client,
                    "resource" => Ty::Resource,
                    _ => return None,
                };
                self.usage.request |= bit(REQUEST_FIELDS, &s.field);
                Some(Checked::of(ty, 2))
            }
            _ => None,
        }
    }

    /// Records that `field` of a `request` part is read. `request.client` or
    /// `request.resource` read as a value (not through one of its fields)
    /// needs all of it.
    fn uses(&mut self, of: Ty, field: &str) {
        match of {
            Ty::Request => {
                self.usage.request |= bit(REQUEST_FIELDS, field);
                match field {
                    "client" => self.usage.client = ALL,
                    "resource" => self.usage.resource = ALL,
                    _ => {}
                }
            }
            Ty::Client => self.usage.client |= bit(CLIENT_FIELDS, field),
            Ty::Resource => self.usage.resource |= bit(RESOURCE_FIELDS, field),
            _ => {}
        }
    }

    fn boolish(&self, c: &Checked, what: &str) -> Result<(), ConditionError> {
        if matches!(c.ty, Ty::Bool | Ty::Dyn) {
            Ok(())
        } else {
            Err(self.error(what, format!("'{what}' needs bools, not {}", c.ty.name())))
        }
    }

    fn call(&mut self, whole: &IdedExpr, call: &cel::common::ast::CallExpr) -> Result<Checked, ConditionError> {
        let name = call.func_name.as_str();
        let target = match &call.target {
            Some(t) => Some(self.check(t)?),
            None => None,
        };
        let mut args = Vec::with_capacity(call.args.len());
        for a in &call.args {
            args.push(self.check(a)?);
        }
        let cost = 1 + target.map_or(0, |t| t.cost) + args.iter().map(|a| a.cost).sum::<u64>();
        let arg = |i: usize| args.get(i).copied().unwrap_or(Checked::of(Ty::Dyn, 0));
        let symbol = operator_symbol(name);
        let ty = match name {
            operators::LOGICAL_AND | operators::LOGICAL_OR | operators::LOGICAL_NOT => {
                for a in &args {
                    self.boolish(a, symbol)?;
                }
                Ty::Bool
            }
            operators::NOT_STRICTLY_FALSE => Ty::Bool,
            operators::EQUALS | operators::NOT_EQUALS => {
                let (l, r) = (arg(0).ty, arg(1).ty);
                if !l.comparable(r) && l != Ty::Null && r != Ty::Null {
                    return Err(self.error(symbol, format!("{} is never equal to {}", l.name(), r.name())));
                }
                if (l == Ty::Null && !matches!(r, Ty::Null | Ty::Dyn))
                    || (r == Ty::Null && !matches!(l, Ty::Null | Ty::Dyn))
                {
                    let other = if l == Ty::Null { r } else { l };
                    return Err(self.error(
                        symbol,
                        format!("{} is never null; an absent subject or tenant is \"\"", other.name()),
                    ));
                }
                Ty::Bool
            }
            operators::LESS | operators::LESS_EQUALS | operators::GREATER | operators::GREATER_EQUALS => {
                let (l, r) = (arg(0).ty, arg(1).ty);
                let ordered = |t: Ty| {
                    t.is_number()
                        || matches!(t, Ty::String | Ty::Timestamp | Ty::Duration | Ty::Bool | Ty::Bytes | Ty::Dyn)
                };
                if !ordered(l) || !ordered(r) || !l.comparable(r) {
                    return Err(self.error(symbol, format!("cannot compare {} with {}", l.name(), r.name())));
                }
                Ty::Bool
            }
            operators::IN => {
                let r = arg(1).ty;
                if !(matches!(r, Ty::List | Ty::Dyn) || r.is_map()) {
                    return Err(self.error("in", format!("'in' needs a list or a map on its right, not {}", r.name())));
                }
                Ty::Bool
            }
            operators::CONDITIONAL => {
                self.boolish(&arg(0), "?")?;
                if arg(1).ty == arg(2).ty { arg(1).ty } else { Ty::Dyn }
            }
            operators::ADD | operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE | operators::MODULO => {
                self.arithmetic(name, symbol, arg(0).ty, arg(1).ty)?
            }
            operators::NEGATE => match arg(0).ty {
                t @ (Ty::Int | Ty::Double | Ty::Duration | Ty::Dyn) => t,
                t => return Err(self.error("-", format!("cannot negate {}", t.name()))),
            },
            operators::INDEX => match arg(0).ty {
                Ty::List | Ty::Dyn => Ty::Dyn,
                t if t.is_map() => Ty::Dyn,
                t => return Err(self.error("[", format!("cannot index {}", t.name()))),
            },
            operators::OPT_INDEX | operators::OPT_SELECT => {
                return Err(self.error("?", "optional syntax is not supported in conditions".to_owned()));
            }
            "size" => {
                let of = target.unwrap_or(arg(0)).ty;
                if !(matches!(of, Ty::String | Ty::Bytes | Ty::List | Ty::Dyn) || of.is_map()) {
                    return Err(self.error("size", format!("size() of {} is undefined", of.name())));
                }
                Ty::Int
            }
            "contains" | "startsWith" | "endsWith" | "matches" => {
                let of = target.map_or(Ty::Dyn, |t| t.ty);
                let ok = matches!(of, Ty::String | Ty::Dyn) || (name == "contains" && (of == Ty::List || of.is_map()));
                if !ok || target.is_none() {
                    return Err(self.error(name, format!("{name}() is a method of strings, not of {}", of.name())));
                }
                if args.len() != 1 {
                    return Err(self.error(name, format!("{name}() takes one argument")));
                }
                let needs_string = of == Ty::String || name != "contains";
                if needs_string && !matches!(args[0].ty, Ty::String | Ty::Dyn) {
                    return Err(self.error(name, format!("{name}() takes a string, not {}", args[0].ty.name())));
                }
                if name == "matches" {
                    self.check_regex(&call.args[0])?;
                }
                Ty::Bool
            }
            "string" => Ty::String,
            "int" => Ty::Int,
            "uint" => Ty::Uint,
            "double" => Ty::Double,
            "bytes" => Ty::Bytes,
            "duration" => Ty::Duration,
            "timestamp" => Ty::Timestamp,
            "max" | "min" => Ty::Dyn,
            "getFullYear" | "getMonth" | "getDayOfYear" | "getDayOfMonth" | "getDate" | "getDayOfWeek" | "getHours"
            | "getMinutes" | "getSeconds" | "getMilliseconds" => {
                let of = target.map_or(Ty::Null, |t| t.ty);
                if !matches!(of, Ty::Timestamp | Ty::Duration | Ty::Dyn) {
                    return Err(self.error(name, format!("{name}() is a method of timestamps, not of {}", of.name())));
                }
                // cel-rust would ignore a time-zone argument and answer in UTC.
                if !args.is_empty() {
                    return Err(self.error(
                        name,
                        format!("{name}() takes no time zone here: request.time is UTC; shift the hours instead"),
                    ));
                }
                Ty::Int
            }
            "value" | "hasValue" | "or" | "orValue" | "none" | "of" | "ofNonZeroValue" => {
                return Err(self.error(name, "optional values are not supported in conditions".to_owned()));
            }
            other => {
                return Err(self.error(other, format!("unknown function '{other}'")));
            }
        };
        // A call on constants only (`timestamp('2025-13-01')`, `1 / 0`) has
        // the same result at every request: if it fails, it always fails.
        let constant = call.target.as_deref().is_none_or(is_literal) && call.args.iter().all(is_literal);
        if constant && !name.starts_with('@') {
            let outcome = catch_unwind(AssertUnwindSafe(|| Value::resolve(whole, &ROOT)));
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.error(symbol, format!("this always fails: {e}"))),
                Err(_) => return Err(self.error(symbol, "this always fails".to_owned())),
            }
        }
        Ok(Checked { ty, cost, size: if ty == Ty::List { arg(0).size.saturating_add(arg(1).size) } else { 0 } })
    }

    fn arithmetic(&self, name: &str, symbol: &str, l: Ty, r: Ty) -> Result<Ty, ConditionError> {
        use Ty::*;
        let ty = match (name, l, r) {
            (_, Dyn, _) | (_, _, Dyn) => Some(Dyn),
            (operators::ADD, String | Bytes | List, _) if l == r => Some(l),
            (operators::ADD, Timestamp, Duration) | (operators::ADD, Duration, Timestamp) => Some(Timestamp),
            (operators::ADD | operators::SUBSTRACT, Duration, Duration) => Some(Duration),
            (operators::SUBSTRACT, Timestamp, Timestamp) => Some(Duration),
            (operators::SUBSTRACT, Timestamp, Duration) => Some(Timestamp),
            (operators::MODULO, Double, _) => None,
            (_, Int | Uint | Double, _) if l == r => Some(l),
            _ => None,
        };
        ty.ok_or_else(|| self.error(symbol, format!("'{symbol}' is undefined for {} and {}", l.name(), r.name())))
    }

    /// A literal `matches()` pattern is checked here, so a typo does not fail
    /// every request.
    fn check_regex(&self, pattern: &IdedExpr) -> Result<(), ConditionError> {
        if let Expr::Literal(LiteralValue::String(p)) = &pattern.expr
            && let Err(e) = regex::Regex::new(p.inner())
        {
            let first_line = e.to_string().lines().last().unwrap_or("").trim().to_owned();
            return Err(self.error("matches", format!("invalid regular expression: {first_line}")));
        }
        Ok(())
    }
}

fn is_literal(e: &IdedExpr) -> bool {
    matches!(e.expr, Expr::Literal(_))
}

/// How long a list or map field of `request` can be.
fn bound_of(what: &str, field: &str) -> u64 {
    match (what, field) {
        ("request.client", "tags") => 32,
        (_, "labels") => 64,
        _ => UNBOUNDED_LIST,
    }
}

fn operator_symbol(name: &str) -> &str {
    match name {
        operators::LOGICAL_AND => "&&",
        operators::LOGICAL_OR => "||",
        operators::LOGICAL_NOT => "!",
        operators::EQUALS => "==",
        operators::NOT_EQUALS => "!=",
        operators::LESS => "<",
        operators::LESS_EQUALS => "<=",
        operators::GREATER => ">",
        operators::GREATER_EQUALS => ">=",
        operators::ADD => "+",
        operators::SUBSTRACT => "-",
        operators::MULTIPLY => "*",
        operators::DIVIDE => "/",
        operators::MODULO => "%",
        operators::IN => "in",
        other => other,
    }
}

/// The 1-based line and column of the first occurrence of `needle` that is not
/// inside a longer identifier (nor, for a `variable`, after a `.`); (1, 1) when
/// there is none.
fn locate(source: &str, needle: &str, variable: bool) -> (usize, usize) {
    if needle.is_empty() {
        return (1, 1);
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let starts_ident = needle.chars().next().is_some_and(ident);
    let ends_ident = needle.chars().last().is_some_and(ident);
    let mut from = 0;
    while let Some(found) = source[from..].find(needle) {
        let at = from + found;
        let before = source[..at].chars().next_back();
        let inside_ident = starts_ident && before.is_some_and(ident);
        let after_dot = variable && before == Some('.');
        let before_ok = !inside_ident && !after_dot;
        let after_ok = !ends_ident || !source[at + needle.len()..].chars().next().is_some_and(ident);
        if before_ok && after_ok {
            let line = source[..at].matches('\n').count() + 1;
            let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
            return (line, source[line_start..at].chars().count() + 1);
        }
        from = at + needle.len().max(1);
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn locate_finds_whole_identifiers_only() {
        assert_eq!(locate("request.tenant == tenant", "tenant", true), (1, 19));
        assert_eq!(locate("request.tenant == tenant", "tenant", false), (1, 9));
        assert_eq!(locate("tenants == tenant", "tenant", true), (1, 12));
        assert_eq!(locate("a &&\n  b.x", ".x", false), (2, 4));
        assert_eq!(locate("abc", "zzz", false), (1, 1));
    }

    #[test]
    fn grant_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::from_manifest_name(g.manifest_name()), Some(g));
        }
        assert_eq!(GrantType::from_manifest_name("client_credentials"), None);
    }
}
