//! Evaluating a condition for one request: `request` is built from the
//! fields the condition reads (the client and resource parts once per
//! association, [`StaticFacts`]), and `matches()` finds the patterns the
//! condition compiled with.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cel::extractors::This;
use cel::objects::Key;
use cel::{Context, ExecutionError, FunctionContext, Value};

use super::check::{CLIENT_FIELDS, REQUEST_FIELDS, RESOURCE_FIELDS, Ty};
use super::{ClientFacts, Condition, RequestFacts, ResourceFacts, StaticFacts};
use crate::time::UnixTime;

/// The root context of one condition: cel-rust's standard functions, with a
/// `matches()` that uses the condition's compiled patterns. A pattern built
/// from request data at evaluation (not a literal) is compiled at each call.
pub(super) fn root(patterns: HashMap<String, regex::Regex>) -> Context<'static> {
    let mut ctx = Context::default();
    ctx.add_function(
        "matches",
        move |ftx: &FunctionContext,
              This(this): This<Arc<String>>,
              pattern: Arc<String>|
              -> Result<bool, ExecutionError> {
            if let Some(re) = patterns.get(pattern.as_str()) {
                return Ok(re.is_match(&this));
            }
            let re = regex::Regex::new(&pattern).map_err(|e| ftx.error(format!("not a valid regex: {e}")))?;
            Ok(re.is_match(&this))
        },
    );
    ctx
}

/// Which fields of `request` a condition reads: a bit per entry of
/// `REQUEST_FIELDS`, `CLIENT_FIELDS` and `RESOURCE_FIELDS`. Only those are
/// built per request, so a condition that reads the tenant pays for the
/// tenant alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Usage {
    pub request: u16,
    pub client: u16,
    pub resource: u16,
}

pub(super) const ALL: u16 = u16::MAX;

pub(super) fn bit(fields: &[(&str, Ty)], field: &str) -> u16 {
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

    /// Evaluates the condition for one request. `Err` carries what went wrong
    /// (a missing map key, a failing function, a result that is not a bool);
    /// the caller decides what an error means.
    pub fn evaluate(&self, facts: &StaticFacts, req: &RequestFacts<'_>) -> Result<bool, String> {
        let request = self.request(facts, req);
        let run = || {
            let mut ctx = self.root.new_inner_scope();
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
