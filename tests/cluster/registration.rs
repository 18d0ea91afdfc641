//! Dynamic Client Registration with `keyward run` on kube-apiserver 1.20: a
//! client that registers itself at one replica becomes an OAuthClient in the
//! hub's namespace, labelled with its origin, Ready, and known to every
//! replica; its registrant deletes it at another replica and it is gone
//! everywhere.

use keyward_api::v1alpha1::OAuthClient;
use kube::Api;
use kube::api::ListParams;

use crate::support::*;

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
