//! Static checks: a small type checker over cel-rust's AST. cel-rust has none
//! of its own, so without this `request.tenat == 'x'` would be a runtime error
//! on every request (and a deny policy would deny everything). Walking the
//! tree it also adds up the worst-case cost (the formulas are `cost.rs`'s),
//! records which fields of `request` the condition reads, and compiles its
//! literal `matches()` patterns.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use cel::{Context, Value};

use super::ConditionError;
use super::cost;
use super::eval::{ALL, Usage, bit};

/// cel-rust's standard functions, to evaluate constant sub-expressions: one
/// that always fails is refused when the policy compiles.
static CONSTANTS: LazyLock<Context<'static>> = LazyLock::new(Context::default);

/// What the walk found out about a whole condition.
pub(super) struct Outcome {
    pub ty: Ty,
    pub cost: u64,
    pub usage: Usage,
    pub patterns: HashMap<String, regex::Regex>,
}

/// Checks a parsed condition.
pub(super) fn check(source: &str, expr: &IdedExpr) -> Result<Outcome, ConditionError> {
    let mut checker = Checker { source, scope: Vec::new(), usage: Usage::default(), patterns: HashMap::new() };
    let checked = checker.check(expr)?;
    Ok(Outcome { ty: checked.ty, cost: checked.cost, usage: checker.usage, patterns: checker.patterns })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
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
    pub(super) fn name(self) -> &'static str {
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

pub(super) const REQUEST_FIELDS: &[(&str, Ty)] = &[
    ("client", Ty::Client),
    ("resource", Ty::Resource),
    ("subject", Ty::String),
    ("roles", Ty::List),
    ("tenant", Ty::String),
    ("grant", Ty::String),
    ("time", Ty::Timestamp),
];
pub(super) const CLIENT_FIELDS: &[(&str, Ty)] =
    &[("id", Ty::String), ("name", Ty::String), ("namespace", Ty::String), ("tags", Ty::List), ("labels", Ty::Map)];
pub(super) const RESOURCE_FIELDS: &[(&str, Ty)] =
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
    /// Literal `matches()` patterns, compiled.
    patterns: HashMap<String, regex::Regex>,
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
                    Ok(Checked { ty: Ty::Dyn, cost: 1, size: cost::UNBOUNDED_LIST })
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
                    None => (Ty::Dyn, cost::UNBOUNDED_LIST),
                    Some((what, fields)) => {
                        let Some((_, ty)) = fields.iter().find(|(f, _)| *f == s.field) else {
                            let known: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
                            return Err(self.error(
                                &format!(".{}", s.field),
                                format!("{what} has no field '{}'; it has {}", s.field, known.join(", ")),
                            ));
                        };
                        self.uses(operand.ty, &s.field);
                        (*ty, cost::bound_of(what, &s.field))
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
                let cost = cost::comprehension(range.cost, range.size, init.cost, cond.cost + step.cost, result.cost);
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
        let cost = cost::call(target.map(|t| t.cost), args.iter().map(|a| a.cost));
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
            let outcome = catch_unwind(AssertUnwindSafe(|| Value::resolve(whole, &CONSTANTS)));
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

    /// A literal `matches()` pattern is compiled here, once: a typo is refused
    /// with the policy instead of failing every request, and evaluation finds
    /// the compiled pattern instead of compiling it per call.
    fn check_regex(&mut self, pattern: &IdedExpr) -> Result<(), ConditionError> {
        if let Expr::Literal(LiteralValue::String(p)) = &pattern.expr {
            match regex::Regex::new(p.inner()) {
                Ok(re) => {
                    self.patterns.insert(p.inner().to_owned(), re);
                }
                Err(e) => {
                    let first_line = e.to_string().lines().last().unwrap_or("").trim().to_owned();
                    return Err(self.error("matches", format!("invalid regular expression: {first_line}")));
                }
            }
        }
        Ok(())
    }
}

fn is_literal(e: &IdedExpr) -> bool {
    matches!(e.expr, Expr::Literal(_))
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
    use super::*;

    #[test]
    fn locate_finds_whole_identifiers_only() {
        assert_eq!(locate("request.tenant == tenant", "tenant", true), (1, 19));
        assert_eq!(locate("request.tenant == tenant", "tenant", false), (1, 9));
        assert_eq!(locate("tenants == tenant", "tenant", true), (1, 12));
        assert_eq!(locate("a &&\n  b.x", ".x", false), (2, 4));
        assert_eq!(locate("abc", "zzz", false), (1, 1));
    }
}
