//! A person signs in through `keyward run` on kube-apiserver 1.20: the
//! static IdentityProvider and its labelled password Secret come from the
//! API, the sign-in, consent, code and refresh tokens are records (Secrets
//! in the hub's namespace), and a second replica refreshes what the first
//! issued.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::{IdentityProvider, OAuthClient};
use kube::Api;
use kube::api::ListParams;

use crate::support::*;

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";
const VERIFIER: &str = "cluster-verifier-0123456789abcdef0123456789abcdef";
const REDIRECT: &str = "http://127.0.0.1:4444/callback";

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &page[page.find(&marker).unwrap_or_else(|| panic!("no {name}: {page}")) + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

struct Browser {
    http: reqwest::Client,
    jar: BTreeMap<String, String>,
}

impl Browser {
    async fn send(&mut self, r: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let r = r.header("cookie", cookies.join("; ")).send().await.unwrap();
        for v in r.headers().get_all("set-cookie") {
            let (k, val) = v.to_str().unwrap().split(';').next().unwrap().split_once('=').unwrap();
            self.jar.insert(k.to_owned(), val.to_owned());
        }
        let loc = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }

    async fn form(&mut self, url: String, pairs: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let body: String = pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        let r = self.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.send(r).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (kube-fullenv)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_on_one_replica_and_refreshes_on_another() {
    let Some((client, ns, hub)) = setup_namespaces(VAR, "people").await else { return };
    let manifests = [include_str!("../../examples/resources.yaml"), include_str!("../../examples/people.yaml")]
        .join("\n---\n")
        .replace("namespace: shop", &format!("namespace: {ns}"));
    apply_yaml(&client, &manifests).await;
    let first = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;
    let second = start_replica(&client, ReplicaOptions::new(&hub, &[&ns])).await;

    // Statuses: the provider and the app are Ready.
    let idps: Api<IdentityProvider> = Api::namespaced(client.clone(), &ns);
    eventually(30, "demo-users Ready", || async {
        let p = idps.get_opt("demo-users").await.ok()??;
        p.status?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
    })
    .await;
    let clients: Api<OAuthClient> = Api::namespaced(client.clone(), &ns);
    eventually(30, "orders-desktop Ready", || async {
        let c = clients.get_opt("orders-desktop").await.ok()??;
        c.status?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
    })
    .await;

    let challenge = B64.encode(digest(&SHA256, VERIFIER.as_bytes()).as_ref());
    let authorize = format!(
        "{}/authorize?response_type=code&client_id=orders-desktop&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&resource={}&scope=orders%3Aread&state=k",
        first.base,
        urlencode(REDIRECT),
        urlencode("https://api.example.internal/orders")
    );
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut b = Browser { http: http.clone(), jar: BTreeMap::new() };
    let (status, login, _) = b.send(http.get(&authorize)).await;
    assert_eq!(status, 303);
    let (_, _, page) = b.send(http.get(format!("{}{}", first.base, login.unwrap()))).await;
    let (flow, csrf) = (hidden(&page, "flow"), hidden(&page, "csrf"));
    let (status, _, consent) = b
        .form(
            format!("{}/login", first.base),
            &[("flow", &flow), ("csrf", &csrf), ("username", "alice"), ("password", "alice-demo-password")],
        )
        .await;
    assert_eq!(status, 200, "{consent}");
    let (status, back, _) =
        b.form(format!("{}/consent", first.base), &[("flow", &flow), ("csrf", &csrf), ("decision", "allow")]).await;
    assert_eq!(status, 303);
    let back = back.unwrap();
    let code = back.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert!(back.contains("iss=https%3A%2F%2Fkeyward.example.test"), "{back}");

    let token = |base: String, pairs: Vec<(&'static str, String)>| {
        let http = http.clone();
        async move {
            let body: String = pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
            let r = http
                .post(format!("{base}/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    // The code was written by the first replica; the second redeems it.
    let (status, t) = token(
        second.base.clone(),
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
            ("client_id", "orders-desktop".into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "orders:read");
    let (status, t2) = token(
        first.base.clone(),
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", t["refresh_token"].as_str().unwrap().into()),
            ("client_id", "orders-desktop".into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t2}");

    // The records are Secrets of their own type in the hub's namespace,
    // named by hashes: no code, token or cookie appears in them by name.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &hub);
    let records = secrets.list(&ListParams::default().labels("keyward.dev/record")).await.unwrap();
    let kinds: std::collections::BTreeSet<String> =
        records.items.iter().filter_map(|s| s.metadata.labels.as_ref()?.get("keyward.dev/record").cloned()).collect();
    for k in ["login", "consent", "code", "refresh", "family"] {
        assert!(kinds.contains(k), "{k} records in {kinds:?}");
    }
    assert!(records.items.iter().all(|s| s.type_.as_deref() == Some("keyward.dev/record")));
    let rt = t2["refresh_token"].as_str().unwrap();
    assert!(records.items.iter().all(|s| !s.metadata.name.as_deref().unwrap_or_default().contains(rt)));
}
