//! The listener against slow, idle and stuck clients, on real sockets: each
//! is closed (or answered 408) within its timeout, the connection cap holds
//! new clients back without losing them, a shutdown lets a request in flight
//! finish and ends within the grace, and normal requests meanwhile stay fast.
//! Timeouts are cut to a second or two so the tests are quick; every number
//! measured is printed (`cargo test -- --nocapture`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use keyward::server::listener::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const SECOND: Duration = Duration::from_secs(1);
/// Slack for timers and a busy 2-core machine; closing earlier than the
/// timeout is checked separately.
const MARGIN: Duration = Duration::from_millis(750);

fn limits(header: u64, body: u64, idle: u64) -> Limits {
    Limits {
        header_read: Duration::from_secs(header),
        body_read: Duration::from_secs(body),
        idle: Duration::from_secs(idle),
        ..Limits::DEFAULT
    }
}

async fn hub_with(limits: Limits) -> TestHub {
    hub().file("world.yaml", WORLD).listener(limits).start().await
}

fn addr(h: &TestHub) -> SocketAddr {
    h.hub.as_ref().unwrap().addr
}

/// How a connection ended, from the client's side.
#[derive(Debug, PartialEq)]
enum End {
    /// The server closed it: FIN (EOF) or RST (reset) both count.
    Closed,
    /// Still open when the test stopped waiting.
    Open,
}

/// Reads until the server closes the connection or `bound` passes: what was
/// received, how it ended, and after how long.
async fn read_to_end(stream: &mut TcpStream, bound: Duration) -> (Vec<u8>, End, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = bound.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (got, End::Open, started.elapsed()),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, End::Closed, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response with a `content-length` body off a keep-alive
/// connection, bounded in time.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + 5 * SECOND;
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= head_end + 4 + length {
                return text;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buf)).await.expect("a response in time").unwrap();
        assert!(n > 0, "closed before a whole response: {text:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |q: usize| ms(v[(v.len() - 1) * q / 100]);
    format!("n={} min={}ms median={}ms p99={}ms max={}ms", v.len(), at(0), at(50), at(99), at(100))
}

fn token_request(secret: &str, content_length: usize) -> String {
    format!(
        "POST /token HTTP/1.1\r\nHost: hub\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {content_length}\r\n\r\n",
        basic("bot", secret)
    )
}

const GRANT: &str = "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test%2Forders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_idle_connections_close_after_the_header_timeout_while_tokens_are_still_issued() {
    let h = hub_with(limits(1, 1, 5)).await;
    let addr = addr(&h);
    let secret = h.secret("agents", "bot");

    let mut idle = Vec::new();
    let opened = Instant::now();
    for _ in 0..400 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let connected = Instant::now();
        idle.push(tokio::spawn(async move {
            let (got, end, _) = read_to_end(&mut stream, 3 * SECOND).await;
            (got, end, connected.elapsed())
        }));
    }
    println!("400 connections opened in {}ms", ms(opened.elapsed()));

    // Meanwhile, tokens as usual: each over a new connection so none rides on
    // an old one, through the same accept loop as the idle ones.
    let mut latencies = Vec::new();
    while opened.elapsed() < 2 * SECOND && latencies.len() < 100 {
        let http = reqwest::Client::new();
        let started = Instant::now();
        let r = http
            .post(format!("{}/token", h.base))
            .header("authorization", basic("bot", &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(GRANT)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut closed_after = Vec::new();
    for task in idle {
        let (got, end, after) = task.await.unwrap();
        assert_eq!((got.as_slice(), end), (&b""[..], End::Closed), "an idle connection gets no answer, only a close");
        closed_after.push(after);
    }
    let (first, last) = (closed_after.iter().min().unwrap(), closed_after.iter().max().unwrap());
    println!("400 idle connections closed after: {}", summary(closed_after.clone()));
    println!("token requests meanwhile: {}", summary(latencies.clone()));
    assert!(*first >= SECOND - Duration::from_millis(100), "closed before the timeout: {first:?}");
    assert!(*last <= SECOND + MARGIN, "closed too late: {last:?}");
    assert!(latencies.len() >= 10);
    assert!(latencies.iter().max().unwrap() < &Duration::from_millis(500), "{latencies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_are_closed_after_the_header_timeout() {
    let h = hub_with(limits(1, 5, 5)).await;
    let mut stream = TcpStream::connect(addr(&h)).await.unwrap();
    stream.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let (got, end, after) = read_to_end(&mut stream, 4 * SECOND).await;
    println!("half-sent headers closed after {}ms", ms(after));
    assert_eq!((got.as_slice(), end), (&b""[..], End::Closed));
    assert!(after >= SECOND - Duration::from_millis(100) && after <= SECOND + MARGIN, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_second_request_on_a_keep_alive_connection_gets_the_header_timeout_not_the_idle_one() {
    let h = hub_with(limits(1, 5, 4)).await;
    let mut stream = TcpStream::connect(addr(&h)).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200 "));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Idle for half a second, well within the idle timeout; then a head that
    // stops halfway must be held to the header timeout from its first byte.
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
    let (got, end, after) = read_to_end(&mut stream, 5 * SECOND).await;
    println!("stalled second request closed {}ms after its first byte", ms(after));
    assert_eq!((got.as_slice(), end), (&b""[..], End::Closed));
    assert!(after >= SECOND - Duration::from_millis(100) && after <= SECOND + MARGIN, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_as_ten_thousand_bytes_with_ten_sent_gets_408_within_the_body_timeout() {
    let h = hub_with(limits(5, 1, 5)).await;
    let secret = h.secret("agents", "bot");
    let mut stream = TcpStream::connect(addr(&h)).await.unwrap();
    stream.write_all(token_request(&secret, 10_000).as_bytes()).await.unwrap();
    stream.write_all(b"grant_type").await.unwrap();
    let (got, end, after) = read_to_end(&mut stream, 4 * SECOND).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    println!("slow body answered and closed after {}ms: {:?}", ms(after), text.lines().next());
    assert!(text.starts_with("http/1.1 408 "), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert_eq!(end, End::Closed);
    assert!(after >= SECOND - Duration::from_millis(100) && after <= SECOND + MARGIN, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_dripping_a_byte_at_a_time_is_held_to_the_total_body_timeout() {
    let h = hub_with(limits(5, 1, 5)).await;
    let secret = h.secret("agents", "bot");
    let mut stream = TcpStream::connect(addr(&h)).await.unwrap();
    stream.write_all(token_request(&secret, GRANT.len()).as_bytes()).await.unwrap();
    let sent = Instant::now();
    // A byte every 100 ms would take 8 s for the whole form; each read
    // arrives well within the timeout, the body as a whole does not.
    let (mut read, mut write) = stream.into_split();
    let drip = tokio::spawn(async move {
        for b in GRANT.bytes() {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let bounded = tokio::time::timeout(4 * SECOND, read.read_to_end(&mut got)).await;
    let after = sent.elapsed();
    drip.abort();
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    println!("dripping body answered and closed after {}ms", ms(after));
    assert!(bounded.is_ok(), "still open after 4 s");
    assert!(text.starts_with("http/1.1 408 "), "{text}");
    assert!(after >= SECOND - Duration::from_millis(100) && after <= SECOND + MARGIN, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_lives_for_the_idle_timeout_not_the_header_timeout() {
    let h = hub_with(limits(1, 1, 2)).await;
    let mut stream = TcpStream::connect(addr(&h)).await.unwrap();
    stream.write_all(b"GET /jwks.json HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200 "));
    let idle_since = Instant::now();
    // Past the header timeout, the connection is still there and still serves.
    let (got, end, _) = read_to_end(&mut stream, 1500 * Duration::from_millis(1)).await;
    assert_eq!((got.as_slice(), end), (&b""[..], End::Open));
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200 "));
    println!("second request served on the connection {}ms into idling", ms(idle_since.elapsed()));
    let idle_since = Instant::now();
    let (got, end, after) = read_to_end(&mut stream, 5 * SECOND).await;
    println!("idle keep-alive connection closed after {}ms", ms(after));
    assert_eq!((got.as_slice(), end), (&b""[..], End::Closed));
    assert!(after >= 2 * SECOND - Duration::from_millis(100) && after <= 2 * SECOND + MARGIN, "{:?}", idle_since);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_cap_a_client_waits_for_a_free_slot_and_is_then_served() {
    let h = hub_with(Limits { max_connections: 8, ..limits(1, 1, 1) }).await;
    let addr = addr(&h);
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // The ninth connects (the kernel queues it) but is not served while the
    // eight hold every slot.
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let (got, end, _) = read_to_end(&mut ninth, Duration::from_millis(600)).await;
    assert_eq!((got.as_slice(), end), (&b""[..], End::Open), "served over the cap");
    // The eight time out after a second; the ninth is served at once then.
    let (got, end, _) = read_to_end(&mut ninth, 3 * SECOND).await;
    let served_after = opened.elapsed();
    println!("ninth connection served {}ms after the eight idle ones opened", ms(served_after));
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200 "), "{got:?}");
    assert_eq!(end, End::Closed);
    assert!(served_after >= SECOND - Duration::from_millis(100) && served_after <= SECOND + MARGIN);
    for mut s in idle {
        let (got, end, _) = read_to_end(&mut s, SECOND).await;
        assert_eq!((got.as_slice(), end), (&b""[..], End::Closed));
    }
    // Normal service: sixteen requests, eight at a time, all answered.
    let started = Instant::now();
    for _ in 0..2 {
        let rounds = (0..8).map(|_| h.get("/jwks.json"));
        for r in futures::future::join_all(rounds).await {
            assert_eq!(r.status, 200);
        }
    }
    println!("then 16 requests, 8 at a time, in {}ms", ms(started.elapsed()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish_and_drops_a_stuck_one_at_the_grace() {
    let h = hub_with(Limits { shutdown_grace: SECOND, ..limits(5, 10, 5) }).await;
    let addr = addr(&h);
    let secret = h.secret("agents", "bot");
    // In flight: headers and half the body sent.
    let mut finishing = TcpStream::connect(addr).await.unwrap();
    finishing.write_all(token_request(&secret, GRANT.len()).as_bytes()).await.unwrap();
    finishing.write_all(&GRANT.as_bytes()[..20]).await.unwrap();
    // Stuck: a body that will never come (its 10 s timeout is past the grace).
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck.write_all(token_request(&secret, 10_000).as_bytes()).await.unwrap();
    stuck.write_all(b"grant_type").await.unwrap();
    // Idle after a request: closed at once.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200 "));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut h = h;
    let hub = h.hub.take().unwrap();
    let started = Instant::now();
    let shutdown = tokio::spawn(hub.shutdown());

    let (got, end, idle_after) = read_to_end(&mut idle, SECOND).await;
    println!("idle connection closed {}ms into the shutdown", ms(idle_after));
    assert_eq!((got.as_slice(), end), (&b""[..], End::Closed));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "a new connection was accepted during the shutdown");

    finishing.write_all(&GRANT.as_bytes()[20..]).await.unwrap();
    let (got, end, _) = read_to_end(&mut finishing, 3 * SECOND).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    println!("request in flight finished {}ms into the shutdown", ms(started.elapsed()));
    assert!(text.starts_with("http/1.1 200 "), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n") && text.contains("access_token"), "{text}");
    assert_eq!(end, End::Closed);

    let drained = tokio::time::timeout(3 * SECOND, shutdown).await.expect("shutdown within the grace").unwrap();
    let took = started.elapsed();
    let (got, end, _) = read_to_end(&mut stuck, SECOND).await;
    println!("shutdown took {}ms: {drained:?}", ms(took));
    assert_eq!((got.as_slice(), end), (&b""[..], End::Closed), "the stuck connection is dropped, unanswered");
    assert_eq!((drained.open, drained.dropped), (3, 1));
    assert!(took >= SECOND - Duration::from_millis(100) && took <= SECOND + MARGIN, "{took:?}");
}
