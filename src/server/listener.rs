//! Serving a router on a TCP listener, with the limits a hub that faces clients
//! directly (no reverse proxy in front) needs to survive slow and idle ones.
//!
//! Owns the accept loop, the cap on open connections, the per-connection
//! timeouts and the bounded graceful shutdown; `keyward serve` and both
//! listeners of `keyward run` go through [`spawn`]. The router is opaque here:
//! nothing in this file knows about OAuth.
//!
//! Why a hand-rolled loop instead of `axum::serve`: it has no timeouts and no
//! cap. Why our own clock instead of hyper's `header_read_timeout`: in hyper 1
//! that timer starts whenever a keep-alive connection goes idle (see
//! `proto/h1/conn.rs`, `State::idle` sets `notify_read`), so it doubles as the
//! idle timeout and cannot be longer than the header timeout. Here each
//! connection carries one deadline that moves with its phase:
//!
//! | phase | from | deadline |
//! |---|---|---|
//! | head | accept, or the first byte of a later request | `header_read` |
//! | body | the head parsed | `body_read`, total (a drip of a byte a second gains nothing); the handler then gets an error and the client a 408 |
//! | handler | the body read (or none sent) | none: handlers bound their own outbound calls |
//! | idle | the response handed to hyper, and again at every write of it | `idle`; it also bounds writing the response to a client that stops reading, while a streamed response (SSE through `keyward gateway`) lives as long as it makes progress |
//!
//! The deadline is two atomics per connection, updated where hyper already
//! calls us (a read, the service call, the response); the watchdog's timer is
//! re-armed lazily, only when a deadline moves earlier or fires, so a busy
//! keep-alive connection costs a few clock reads per request and no timer
//! traffic.
//!
//! Over the cap the loop stops accepting until a connection closes: waiting
//! clients sit in the kernel's accept queue (bounded by its backlog; beyond it
//! the kernel drops SYNs and clients retry), so no work grows in the process,
//! and they are served in order once a slot frees. Accept-and-close would spend
//! an accept and a reset on every attempt of a client that would simply have
//! been served a moment later.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Sleep;

/// What one listener tolerates. The three timeouts must be above zero; a zero
/// grace drops connections at once on shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From accepting a connection, or from the first byte of a later request
    /// on it, until the request line and headers are in.
    pub header_read: Duration,
    /// From the end of the headers until the whole body is in; total, not per
    /// read.
    pub body_read: Duration,
    /// How long a keep-alive connection may wait for its next request after a
    /// response (and how long writing that response may take).
    pub idle: Duration,
    /// Connections open at once; over it the listener stops accepting.
    pub max_connections: u32,
    /// On shutdown, how long requests in flight may take before their
    /// connections are dropped.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The defaults, chosen for a hub with no proxy in front (docs/deploy.md).
    pub const DEFAULT: Limits = Limits {
        header_read: Duration::from_secs(10),
        body_read: Duration::from_secs(10),
        idle: Duration::from_secs(120),
        max_connections: 4096,
        shutdown_grace: Duration::from_secs(10),
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// What a shutdown found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Connections open when the shutdown began.
    pub open: usize,
    /// Of those, the ones still open at the end of the grace, dropped.
    pub dropped: usize,
}

/// A listener being served. Dropping it stops the server at once (connections
/// dropped); [`Server::shutdown`] stops it gracefully.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Drained>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting (new connections are refused), closes idle
    /// connections, lets requests in flight finish within the grace, then drops
    /// what is left.
    pub async fn shutdown(mut self) -> Drained {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let drained = (&mut self.task).await.unwrap_or_default();
        tracing::info!(addr = %self.addr, open = drained.open, dropped = drained.dropped, "listener stopped");
        drained
    }

    /// Stops at once: the listener closes and every connection is dropped.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// Serves `router` on `listener` within `limits`, on a task of its own.
pub fn spawn(listener: TcpListener, router: Router, limits: Limits) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, router, limits, stopped));
    Ok(Server { addr, stop: Some(stop), task })
}

/// What the accept loop tells its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    Serving,
    /// Finish the request in flight, then close.
    Draining,
    /// Close now.
    Dropping,
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) -> Drained {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max as usize));
    // Sender dropped (this task aborted) reads as `Dropping` on the other end.
    let (signal, _) = watch::channel(Signal::Serving);
    // `Ok` from the handle means graceful; its drop means stop at once.
    let graceful = loop {
        let slot = tokio::select! {
            biased;
            s = &mut stop => break s.is_ok(),
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        // The semaphore is never closed.
        let Ok(slot) = slot else { break true };
        let accepted = tokio::select! {
            biased;
            s = &mut stop => break s.is_ok(),
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(connection(stream, peer, router.clone(), limits, signal.subscribe(), slot));
            }
            // The client gave up between SYN and accept: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors and the like: retrying at once would
            // spin; connections closing will make room.
            Err(e) => {
                tracing::error!(error = %e, "cannot accept connections; retrying in a second");
                tokio::select! {
                    biased;
                    s = &mut stop => break s.is_ok(),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    drop(listener);
    let open_now = || (max as usize).saturating_sub(slots.available_permits());
    let open = open_now();
    if graceful && open > 0 {
        signal.send_replace(Signal::Draining);
        if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(max)).await.is_ok() {
            return Drained { open, dropped: 0 };
        }
    }
    let dropped = open_now();
    signal.send_replace(Signal::Dropping);
    // The tasks drop their connections at their next poll, which is now.
    let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(max)).await;
    Drained { open, dropped }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

async fn connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: Limits,
    mut signal: watch::Receiver<Signal>,
    _slot: OwnedSemaphorePermit,
) {
    // Responses go out in one write; don't let Nagle hold a second one.
    let _ = stream.set_nodelay(true);
    let clock = Arc::new(Clock::new(limits));
    let service = Tracked { router, clock: Arc::clone(&clock), body_read: limits.body_read, peer };
    let io = TokioIo::new(Watched { stream, clock: Arc::clone(&clock) });
    // No hyper timer: our clock does the header timeout (see the module doc),
    // and hyper's default 30 s header timeout must not apply on top.
    let conn = http1::Builder::new().header_read_timeout(None).serve_connection(io, service);
    let mut conn = pin!(conn);
    let mut watchdog = Watchdog::new(clock);
    let mut draining = false;
    loop {
        // Connection first: every phase change happens while hyper polls it, so
        // the watchdog, polled right after, always sees the current deadline.
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection closed on an error");
                }
                return;
            }
            phase = &mut watchdog => {
                tracing::debug!(waiting_for = phase.describe(), "connection closed: timed out");
                return;
            }
            changed = signal.changed() => match changed.map(|()| *signal.borrow_and_update()) {
                Ok(Signal::Serving) => {}
                Ok(Signal::Draining) => {
                    if !draining {
                        draining = true;
                        // Idle connections close now, busy ones after their
                        // response.
                        conn.as_mut().graceful_shutdown();
                    }
                }
                Ok(Signal::Dropping) | Err(_) => return,
            },
        }
    }
}

/// A connection's phases (the module doc's table).
const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// No deadline.
const NEVER: u64 = u64::MAX;

/// One connection's phase and deadline, in milliseconds since it was accepted.
/// Shared by the socket wrapper, the service and the watchdog, which all run
/// on the connection's task: relaxed atomics are enough.
struct Clock {
    origin: Instant,
    header_ms: u64,
    idle_ms: u64,
    phase: AtomicU8,
    deadline: AtomicU64,
    /// Set by the request body when it gives up; the response becomes a 408.
    body_timed_out: AtomicBool,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(NEVER)
}

impl Clock {
    fn new(limits: Limits) -> Clock {
        let header_ms = millis(limits.header_read);
        Clock {
            origin: Instant::now(),
            header_ms,
            idle_ms: millis(limits.idle),
            phase: AtomicU8::new(HEAD),
            deadline: AtomicU64::new(header_ms),
            body_timed_out: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        millis(self.origin.elapsed())
    }

    fn enter(&self, phase: u8, deadline: u64) {
        self.phase.store(phase, Relaxed);
        self.deadline.store(deadline, Relaxed);
    }

    /// Bytes arrived: on an idle connection they start the next request's head.
    fn on_bytes(&self) {
        if self.phase.load(Relaxed) == IDLE {
            self.enter(HEAD, self.now().saturating_add(self.header_ms));
        }
    }

    /// The head is parsed; the body has its own deadline, the handler none.
    fn on_request(&self) {
        self.enter(BUSY, NEVER);
        self.body_timed_out.store(false, Relaxed);
    }

    fn on_response(&self) {
        self.enter(IDLE, self.now().saturating_add(self.idle_ms));
    }

    /// Response bytes left: the client is reading, so the wait starts over.
    fn on_written(&self) {
        if self.phase.load(Relaxed) == IDLE {
            self.deadline.store(self.now().saturating_add(self.idle_ms), Relaxed);
        }
    }

    fn instant(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin) + Duration::from_millis(ms)
    }
}

/// The phase a connection timed out in.
#[derive(Clone, Copy, Debug)]
struct Expired(u8);

impl Expired {
    fn describe(self) -> &'static str {
        match self.0 {
            HEAD => "request headers",
            IDLE => "the next request (idle), or the client to read the response",
            _ => "the request",
        }
    }
}

/// Resolves when the connection's deadline passes.
struct Watchdog {
    clock: Arc<Clock>,
    sleep: Pin<Box<Sleep>>,
    /// The deadline the sleep is set to; `NEVER`: not armed.
    armed: u64,
}

impl Watchdog {
    fn new(clock: Arc<Clock>) -> Watchdog {
        let armed = clock.deadline.load(Relaxed);
        let sleep = Box::pin(tokio::time::sleep_until(clock.instant(armed)));
        Watchdog { clock, sleep, armed }
    }
}

impl Future for Watchdog {
    type Output = Expired;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Expired> {
        let this = &mut *self;
        loop {
            // A later deadline is left for when the armed one fires; only an
            // earlier one moves the timer.
            let deadline = this.clock.deadline.load(Relaxed);
            if deadline < this.armed {
                this.armed = deadline;
                let at = this.clock.instant(deadline);
                this.sleep.as_mut().reset(at);
            }
            if this.armed == NEVER {
                return Poll::Pending;
            }
            ready!(this.sleep.as_mut().poll(cx));
            // The sleep ended at `armed`: a deadline no later has passed.
            if this.clock.deadline.load(Relaxed) <= this.armed {
                return Poll::Ready(Expired(this.clock.phase.load(Relaxed)));
            }
            this.armed = NEVER; // it moved later: re-armed at the top of the loop
        }
    }
}

/// The socket, telling the clock when bytes arrive.
struct Watched {
    stream: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.on_bytes();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.on_written();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.on_written();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, with the clock told when a request starts and ends.
struct Tracked {
    router: Router,
    clock: Arc<Clock>,
    body_read: Duration,
    /// The client's address, for handlers that throttle per address.
    peer: std::net::SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Tracking;

    fn call(&self, request: Request<Incoming>) -> Tracking {
        use hyper::body::Body as _;
        self.clock.on_request();
        let mut request = request;
        request.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        let request = if request.body().is_end_stream() {
            request.map(Body::new)
        } else {
            let at = tokio::time::Instant::now() + self.body_read;
            let (clock, limit) = (Arc::clone(&self.clock), self.body_read);
            request.map(|inner| Body::new(TimedBody { inner, at, sleep: None, clock, limit }))
        };
        // Router clones are an Arc; its `poll_ready` is always ready.
        let inner = tower::Service::call(&mut self.router.clone(), request);
        Tracking { inner, clock: Arc::clone(&self.clock) }
    }
}

struct Tracking {
    inner: axum::routing::future::RouteFuture<Infallible>,
    clock: Arc<Clock>,
}

impl Future for Tracking {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(Pin::new(&mut self.inner).poll(cx));
        self.clock.on_response();
        if self.clock.body_timed_out.swap(false, Relaxed) {
            return Poll::Ready(Ok(body_timed_out()));
        }
        Poll::Ready(response)
    }
}

/// Whatever the handler made of a body that stopped arriving, the client hears
/// why, and the connection closes (the rest of the body is never coming).
fn body_timed_out() -> Response<Body> {
    let mut r = Response::new(Body::from("request body timed out\n"));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error(transparent)]
    Transport(#[from] hyper::Error),
}

/// A request body with a deadline for all of it. The timer is only made when
/// a read would wait: a small body that came with its headers costs none.
struct TimedBody {
    inner: Incoming,
    at: tokio::time::Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    clock: Arc<Clock>,
    limit: Duration,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BodyError::Transport)));
        }
        let at = this.at;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        ready!(sleep.as_mut().poll(cx));
        this.clock.body_timed_out.store(true, Relaxed);
        Poll::Ready(Some(Err(BodyError::TimedOut(this.limit))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
