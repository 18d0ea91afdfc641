//! The audit trail: one structured event per decision the hub makes about a
//! token — issued or refused (any grant), introspected, revoked — and per
//! admin call. An event names the client, subject, resource, the scopes
//! granted and the ones removed with the rule that removed each, the result
//! and error code, and the request id the response carried in `X-Request-Id`.
//!
//! Never in an event: a token, a secret, an assertion, or any value the
//! requester wrote that the hub did not resolve. A client id appears only once
//! it names a registered client; a resource only as the identifier of the
//! Resource the hub chose; an error only as its RFC code.
//!
//! Events are JSON lines on a stream of their own ([`Sink`]: stdout by
//! default, `--audit-log`), apart from the diagnostic log on stderr, so a
//! collector routes them without parsing the log. They do not go through
//! `tracing`: `RUST_LOG` cannot silence the trail by accident, and a line is
//! never lost to a subscriber's filter. [`Audit::record`] also counts every
//! event in `/metrics`, so the two cannot disagree.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::Metrics;
use keyward_core::ErrorCode;
use keyward_core::model::GrantType;
use keyward_core::policy::{Removal, Removals};
use serde::Serialize;

/// Where the lines go.
#[derive(Clone, Default)]
pub enum Sink {
    #[default]
    Stdout,
    Stderr,
    /// Nowhere: the counters still count.
    Off,
    /// To a function, one line (without its newline) per call: for a program
    /// that embeds the hub, and for tests.
    Lines(Arc<dyn Fn(&str) + Send + Sync>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Stdout => "Stdout",
            Sink::Stderr => "Stderr",
            Sink::Off => "Off",
            Sink::Lines(_) => "Lines",
        })
    }
}

/// What an event is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `POST /token`.
    #[default]
    #[serde(rename = "token")]
    Token,
    /// `POST /introspect`.
    #[serde(rename = "introspection")]
    Introspection,
    /// `POST /revoke`.
    #[serde(rename = "revocation")]
    Revocation,
    /// `POST /admin/explain`.
    #[serde(rename = "admin.explain")]
    AdminExplain,
    /// `POST /admin/consents` (list or revoke).
    #[serde(rename = "admin.consents")]
    AdminConsents,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Introspection => "introspection",
            Kind::Revocation => "revocation",
            Kind::AdminExplain => "admin.explain",
            Kind::AdminConsents => "admin.consents",
        }
    }
}

/// How a request ended, besides an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A token was issued.
    Issued,
    /// Introspection answered `active: true`.
    Active,
    /// Introspection answered `active: false`.
    Inactive,
    /// A revocation was recorded.
    Revoked,
    /// RFC 7009 §2.2: a token that is invalid, unknown or expired is not an
    /// error, and nothing is recorded.
    Ignored,
    /// An admin call answered.
    Answered,
    Refused(ErrorCode),
}

impl Outcome {
    /// The `result` of the event, and the label of its counter.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Active => "active",
            Outcome::Inactive => "inactive",
            Outcome::Revoked => "revoked",
            Outcome::Ignored => "ignored",
            Outcome::Answered => "answered",
            Outcome::Refused(code) => code.as_str(),
        }
    }
}

/// One event, filled in by a handler as it learns each fact.
#[derive(Debug, Default)]
pub struct Event {
    pub kind: Kind,
    pub request_id: String,
    pub grant: Option<GrantType>,
    /// The authenticated (or, for the JWT bearer grant, identified) client.
    pub client_id: Option<String>,
    /// The token's subject when it is not the client itself.
    pub subject: Option<String>,
    /// The chosen Resource's identifier.
    pub resource: Option<String>,
    pub tenant: Option<String>,
    /// Granted scopes, space-delimited.
    pub scope: Option<String>,
    /// Scopes the decision took out, and why.
    pub removed: Removals,
    /// The `jti` of the token issued, introspected or revoked.
    pub token_id: Option<String>,
    /// For introspection and revocation: the client the token was issued to.
    pub token_client_id: Option<String>,
    /// For an admin explanation: the client explained.
    pub explained_client_id: Option<String>,
}

impl Event {
    pub fn new(kind: Kind, request_id: String) -> Event {
        Event { kind, request_id, ..Event::default() }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: Rfc3339,
    event: Kind,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant: Option<&'static str>,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<Removed<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explained_client_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Removed<'a> {
    scope: &'a str,
    /// The rule, as `keyward explain --output json` names it.
    rule: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<String>,
}

fn removed<'a>(scope: &'a str, r: &Removal) -> Removed<'a> {
    let (rule, policies) = match r {
        Removal::NotInCatalog => ("notInCatalog", vec![]),
        Removal::NotAssociated => ("notAssociated", vec![]),
        Removal::NotAllowed { applicable_allow } => {
            ("notAllowed", applicable_allow.iter().map(ToString::to_string).collect())
        }
        Removal::Denied { by } => ("denied", vec![by.to_string()]),
        Removal::NoRole { .. } => ("noRole", vec![]),
    };
    Removed { scope, rule, policies }
}

/// Records events: counts them, and writes them to the sink.
#[derive(Clone)]
pub struct Audit {
    metrics: Arc<Metrics>,
    out: Out,
}

#[derive(Clone)]
enum Out {
    Off,
    Lines(Arc<dyn Fn(&str) + Send + Sync>),
    Stream(Arc<Stream>),
}

impl Audit {
    /// For `Stdout` and `Stderr`, starts the thread that writes the lines.
    pub fn new(metrics: Arc<Metrics>, sink: Sink) -> Audit {
        let out = match sink {
            Sink::Off => Out::Off,
            Sink::Lines(f) => Out::Lines(f),
            Sink::Stdout => Out::Stream(Arc::new(Stream::start(false))),
            Sink::Stderr => Out::Stream(Arc::new(Stream::start(true))),
        };
        Audit { metrics, out }
    }

    /// Waits (at most a second) until every line recorded so far is written:
    /// at shutdown.
    pub fn flush(&self) {
        if let Out::Stream(s) = &self.out {
            s.flush();
        }
    }

    /// The counters it keeps.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    pub fn record(&self, ev: &Event, outcome: Outcome) {
        let error = match outcome {
            Outcome::Refused(code) => Some(code),
            _ => None,
        };
        match ev.kind {
            Kind::Token => match error {
                None => self.metrics.token_issued(ev.grant),
                Some(code) => self.metrics.token_refused(ev.grant, code),
            },
            kind => self.metrics.request(kind.as_str(), outcome.as_str()),
        }
        if matches!(self.out, Out::Off) {
            return;
        }
        let line = Line {
            time: Rfc3339(SystemTime::now()),
            event: ev.kind,
            request_id: &ev.request_id,
            grant: ev.grant.map(GrantType::manifest_name),
            result: outcome.as_str(),
            error: error.map(ErrorCode::as_str),
            client_id: ev.client_id.as_deref(),
            subject: ev.subject.as_deref(),
            resource: ev.resource.as_deref(),
            tenant: ev.tenant.as_deref(),
            scope: ev.scope.as_deref(),
            removed: ev.removed.0.iter().map(|(s, r)| removed(s, r)).collect(),
            token_id: ev.token_id.as_deref(),
            token_client_id: ev.token_client_id.as_deref(),
            explained_client_id: ev.explained_client_id.as_deref(),
        };
        // Serializing strings and numbers cannot fail.
        let json = serde_json::to_string(&line).unwrap_or_default();
        match &self.out {
            Out::Stream(s) => s.send(json),
            Out::Lines(f) => f(&json),
            Out::Off => {}
        }
    }
}

/// Lines for stdout or stderr, written by a thread of their own: the request
/// that records a line does not wait for the write. The thread wakes for the
/// first line, lets others gather for a few milliseconds and writes them all
/// in one `write`, so under load the trail costs the token path a channel
/// send, not a system call and a wake-up (measured: docs/benchmarks.md). The
/// queue is bounded: when the stream cannot keep up, requests wait for it
/// rather than lose lines.
struct Stream {
    tx: std::sync::mpsc::SyncSender<Msg>,
}

enum Msg {
    Line(String),
    Flush(std::sync::mpsc::Sender<()>),
}

/// Lines waiting to be written, at most.
const QUEUE: usize = 16 * 1024;
/// Bytes written at once, at most.
const BATCH: usize = 256 * 1024;
/// How long a line may wait for others to share its `write`.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

impl Stream {
    fn start(stderr: bool) -> Stream {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(QUEUE);
        let spawned = std::thread::Builder::new().name("keyward-audit".into()).spawn(move || {
            let mut buf = Vec::with_capacity(BATCH);
            while let Ok(first) = rx.recv() {
                // Let a batch gather: while this thread sleeps, a request's
                // send wakes nobody. At most one wake-up per pause.
                if matches!(first, Msg::Line(_)) {
                    std::thread::sleep(PAUSE);
                }
                let mut acks = Vec::new();
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Line(l) => {
                            buf.extend_from_slice(l.as_bytes());
                            buf.push(b'\n');
                        }
                        Msg::Flush(ack) => acks.push(ack),
                    }
                    if buf.len() < BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                // A line that cannot be written has nowhere better to go.
                let _ = if stderr {
                    std::io::stderr().lock().write_all(&buf)
                } else {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&buf).and_then(|()| out.flush())
                };
                buf.clear();
                for ack in acks {
                    let _ = ack.send(());
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the audit writer: the audit trail is lost");
        }
        Stream { tx }
    }

    fn send(&self, line: String) {
        let _ = self.tx.send(Msg::Line(line));
    }

    fn flush(&self) {
        let (ack, done) = std::sync::mpsc::channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for Stream {
    /// The last clone of the hub's state is gone: write what is queued.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Request ids: unique per process start (a random prefix) and cheap (a
/// counter). Never taken from the request: a value a client wrote does not go
/// into the audit trail.
pub struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    pub fn new(prefix: u32) -> RequestIds {
        RequestIds { prefix, next: AtomicU64::new(0) }
    }

    /// 20 hex digits: the prefix, then the counter.
    pub fn next(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let v = (u128::from(self.prefix) << 48) | u128::from(n & 0xffff_ffff_ffff);
        (0..20).rev().map(|i| char::from(HEX[((v >> (i * 4)) & 0xf) as usize])).collect()
    }
}

/// `2026-12-02T19:30:01.123Z`.
struct Rfc3339(SystemTime);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        s.collect_str(&format_args!("{}", rfc3339(d.as_secs(), d.subsec_millis())))
    }
}

/// UTC civil time from Unix seconds (H. Hinnant's days-to-civil algorithm).
fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_796_239_801, 123), "2026-12-02T19:30:01.123Z");
        assert_eq!(rfc3339(4_102_444_799, 999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn request_ids_are_distinct_and_fixed_width() {
        let ids = RequestIds::new(0xdead_beef);
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!((a.len(), &a[..8]), (20, "deadbeef"));
    }
}
