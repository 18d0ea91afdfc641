//! `keyward serve` killed with SIGKILL in the middle of user sessions: after
//! a restart on the same state directory nothing acknowledged is lost — the
//! sign-in session, the consent, the live refresh token — and nothing spent
//! comes back: a spent refresh token is still a reuse, a redeemed code still
//! redeemed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::support::{form, url_encode};

const VERIFIER: &str = "crash-verifier-0123456789abcdef0123456789abcdef";
const REDIRECT: &str = "http://127.0.0.1:7777/callback";

struct Serve {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(manifests: &std::path::Path, state: &std::path::Path, port: u16) -> Serve {
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--manifests"])
        .arg(manifests)
        .arg("--state-dir")
        .arg(state)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--audit-log", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return Serve { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("keyward serve did not become ready");
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &page[page.find(&marker).unwrap() + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn token(http: &reqwest::Client, base: &str, pairs: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = http
        .post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_kill_9_loses_no_session_consent_or_refresh_token_and_revives_nothing_spent() {
    let dir = tempfile::tempdir().unwrap();
    let (manifests, state) = (dir.path().join("m"), dir.path().join("s"));
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("resources.yaml"), include_str!("../../examples/resources.yaml")).unwrap();
    std::fs::write(manifests.join("people.yaml"), include_str!("../../examples/people.yaml")).unwrap();
    let port = free_port();
    let mut hub = start(&manifests, &state, port).await;
    let base = hub.base.clone();

    // A browser with a cookie jar the test keeps by hand.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let challenge = B64.encode(digest(&SHA256, VERIFIER.as_bytes()).as_ref());
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id=orders-desktop&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&resource={}&scope=orders%3Aread",
        url_encode(REDIRECT),
        url_encode("https://api.example.internal/orders")
    );
    let mut cookies: Vec<String> = Vec::new();
    let keep = |r: &reqwest::Response, cookies: &mut Vec<String>| {
        for v in r.headers().get_all("set-cookie") {
            let kv = v.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = kv.split('=').next().unwrap().to_owned();
            cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            cookies.push(kv);
        }
    };
    let r = http.get(&authorize).send().await.unwrap();
    keep(&r, &mut cookies);
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let login = format!("{base}{}", r.headers()["location"].to_str().unwrap());
    let page = http.get(&login).header("cookie", cookies.join("; ")).send().await.unwrap().text().await.unwrap();
    let (flow, csrf) = (hidden(&page, "flow"), hidden(&page, "csrf"));
    let r = http
        .post(format!("{base}/login"))
        .header("cookie", cookies.join("; "))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("password", "bob-demo-password")]))
        .send()
        .await
        .unwrap();
    keep(&r, &mut cookies);
    let r = http
        .post(format!("{base}/consent"))
        .header("cookie", cookies.join("; "))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("flow", &flow), ("csrf", &csrf), ("decision", "allow")]))
        .send()
        .await
        .unwrap();
    let code = |loc: &str| loc.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let first_code = code(r.headers()["location"].to_str().unwrap());
    let exchange = |c: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let p = [
                ("grant_type", "authorization_code"),
                ("code", c.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", "orders-desktop"),
            ];
            token(&http, &base, &p).await
        }
    };
    let (status, t) = exchange(first_code.clone()).await;
    assert_eq!(status, 200, "{t}");
    let spent = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            token(
                &http,
                &base,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt), ("client_id", "orders-desktop")],
            )
            .await
        }
    };
    let (status, t2) = refresh(spent.clone()).await;
    assert_eq!(status, 200);
    let live = t2["refresh_token"].as_str().unwrap().to_owned();

    // SIGKILL: no shutdown, no flush beyond what was acknowledged.
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
    let mut hub = start(&manifests, &state, port).await;

    // The session and the consent survived: a new code without any page.
    let r = http.get(&authorize).header("cookie", cookies.join("; ")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    // The redeemed code is still redeemed.
    let (status, e) = exchange(first_code).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // That replay revoked the family, the live token with it: a fresh sign-in
    // shows the surviving token would have worked until then.
    let (status, _) = refresh(live).await;
    assert_eq!(status, 400, "the code replay revoked the family");
    let (status, t3) = exchange(code(&loc)).await;
    assert_eq!(status, 200, "{t3}");
    let (status, t4) = refresh(t3["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 200, "{t4}");
    hub.child.kill().unwrap();
    hub.child.wait().unwrap();
}
