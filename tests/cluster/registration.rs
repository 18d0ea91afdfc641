//! Clients that come by themselves, with `keyward run` on kube-apiserver
//! 1.20: a client that registers itself at one replica becomes an
//! OAuthClient in the hub's namespace, labelled with its origin, Ready, and
//! known to every replica; its registrant deletes it at another replica and
//! it is gone everywhere. A metadata document's client is kept the same
//! way, and a changed document replaces the object at whichever replica
//! fetches it next.

use std::time::Duration;

use keyward_api::v1alpha1::OAuthClient;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use crate::support::*;

// Shared with the integration tests, which also count fetches.
#[allow(dead_code)]
#[path = "../shared/document_server.rs"]
mod document_server;
use document_server::{Answer, DocumentServer};

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";
const REDIRECT: &str = "http://127.0.0.1:4444/callback";

fn authorize(base: &str, client_id: &str) -> String {
    format!(
        "{base}/authorize?response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A4444%2Fcallback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example.internal%2Fdocs%2Fmcp&scope=docs%3Asearch&state=k"
    )
}

#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (kube-fullenv)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_client_is_an_oauthclient_every_replica_serves_until_its_registrant_deletes_it() {
    let Some((client, ns, hub)) = setup_namespaces(VAR, "registration").await else { return };
    let manifests = [include_str!("../../examples/resources.yaml"), include_str!("../../examples/people.yaml")]
        .join("\n---\n")
        .replace("namespace: shop", &format!("namespace: {ns}"));
    apply_yaml(&client, &manifests).await;
    let first = start_replica(&client, ReplicaOptions::new(&hub, &[&ns, &hub])).await;
    let second = start_replica(&client, ReplicaOptions::new(&hub, &[&ns, &hub])).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let meta: serde_json::Value = http
        .get(format!("{}/.well-known/oauth-authorization-server", first.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["registration_endpoint"], format!("{ISSUER}/register"));

    let body = serde_json::json!({"client_name": "Cluster agent", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let r = http.post(format!("{}/register", first.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let reg: serde_json::Value = r.json().await.unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_owned();
    let token = reg["registration_access_token"].as_str().unwrap().to_owned();
    let name = client_id.strip_suffix(&format!(".{hub}")).expect("named in the hub's namespace").to_owned();

    // kubectl get oauthclients -l keyward.dev/origin=dcr
    let clients: Api<OAuthClient> = Api::namespaced(client.clone(), &hub);
    let listed = clients.list(&ListParams::default().labels("keyward.dev/origin=dcr")).await.unwrap();
    assert_eq!(listed.items.iter().filter_map(|c| c.metadata.name.clone()).collect::<Vec<_>>(), vec![name.clone()]);
    assert_eq!(listed.items[0].spec.display_name, "Cluster agent");
    eventually(30, "the registered client Ready", || async {
        let c = clients.get_opt(&name).await.ok()??;
        c.status?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
    })
    .await;

    // The other replica knows it: its /authorize sends the browser to sign in.
    eventually(30, "the second replica serves the client", || async {
        let r = http.get(authorize(&second.base, &client_id)).send().await.ok()?;
        (r.status() == 303).then_some(())
    })
    .await;

    // RFC 7592 delete at the second replica: gone from the API and from both.
    let wrong = http.delete(format!("{}/register/{client_id}", second.base)).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let gone = http.delete(format!("{}/register/{client_id}", second.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    assert!(clients.get_opt(&name).await.unwrap().is_none());
    eventually(30, "the first replica forgets the client", || async {
        let r = http.get(authorize(&first.base, &client_id)).send().await.ok()?;
        (r.status() == 400).then_some(())
    })
    .await;
    let read = http.get(format!("{}/register/{client_id}", first.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(read.status(), 401);
}

fn authorize_with(base: &str, client_id: &str, redirect: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example.internal%2Fdocs%2Fmcp&scope=docs%3Asearch&state=k",
        enc(client_id),
        enc(redirect)
    )
}

#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (kube-fullenv)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_documents_client_is_kept_as_an_oauthclient_and_follows_its_document() {
    let Some((client, ns, hub)) = setup_namespaces(VAR, "cimd").await else { return };
    let manifests = [include_str!("../../examples/resources.yaml"), include_str!("../../examples/people.yaml")]
        .join("\n---\n")
        .replace("namespace: shop", &format!("namespace: {ns}"));
    apply_yaml(&client, &manifests).await;
    let server = DocumentServer::start().await;
    let path = "/clients/agent.json";
    let url = server.url(path);
    let answer = |redirect: &str| {
        let mut a = Answer::json(&server.document(redirect, path, json!({})));
        a.headers.push(("cache-control".into(), "max-age=1".into()));
        a
    };
    server.set(path, answer(REDIRECT));
    let options = || {
        let mut o = ReplicaOptions::new(&hub, &[&ns, &hub]);
        if let Some(d) = o.registration.documents.as_mut() {
            d.fetch.allow = vec!["127.0.0.1".parse().unwrap()];
            d.fetch.min_ttl = Duration::from_secs(1);
            d.fetch.min_refresh_interval = Duration::ZERO;
            d.ca_pem = Some(server.ca_pem.clone());
        }
        o
    };
    let first = start_replica(&client, options()).await;
    let second = start_replica(&client, options()).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Known at the first replica: fetched, kept, served.
    let r = http.get(authorize_with(&first.base, &url, REDIRECT)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let clients: Api<OAuthClient> = Api::namespaced(client.clone(), &hub);
    let listed = clients.list(&ListParams::default().labels("keyward.dev/origin=cimd")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let kept = &listed.items[0];
    assert_eq!(kept.spec.client_id.as_deref(), Some(url.as_str()), "the API server took the URL as client id");
    let name = kept.metadata.name.clone().unwrap();
    eventually(30, "the metadata document's client Ready", || async {
        let c = clients.get_opt(&name).await.ok()??;
        c.status?.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(())
    })
    .await;

    // The document moves its redirect URI; once the cache expired, the other
    // replica fetches it and replaces the object the first one created.
    let moved = "http://127.0.0.1:4545/other";
    server.set(path, answer(moved));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = http.get(authorize_with(&second.base, &url, moved)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let updated = clients.get(&name).await.unwrap();
    let uris = updated.spec.grant_types.unwrap().authorization_code.unwrap().redirect_uris;
    assert_eq!(uris, vec![moved.to_owned()]);
    eventually(30, "the first replica follows", || async {
        let r = http.get(authorize_with(&first.base, &url, moved)).send().await.ok()?;
        (r.status() == 303).then_some(())
    })
    .await;
    assert_eq!(clients.list(&ListParams::default().labels("keyward.dev/origin=cimd")).await.unwrap().items.len(), 1);
}
