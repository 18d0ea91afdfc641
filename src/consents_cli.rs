//! `keyward consents list|revoke`: against a running hub's admin API, or the
//! cluster's records directly.

use std::io::Write;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyward_core::store::Records;

use crate::consents::{self, ConsentView, Filter};

pub enum Target {
    /// A hub's issuer URL and an admin client's credentials.
    Hub { hub: String, id: String, secret: String },
    /// The records in the hub's namespace (the hub's `--name`).
    Cluster { namespace: String, name: String },
}

pub enum Action {
    List { sub: Option<String>, client: Option<String>, json: bool },
    Revoke { sub: String, client: String, resource: Option<String> },
}

pub async fn run(target: Target, action: Action, out: &mut impl Write) -> anyhow::Result<()> {
    match target {
        Target::Hub { hub, id, secret } => via_hub(&hub, &id, &secret, action, out).await,
        Target::Cluster { namespace, name } => {
            let client = kube::Client::try_default().await.context("no kubeconfig and not in a cluster")?;
            let store = crate::store::KubeStore::new(client, &namespace, &name)?;
            direct(&store, action, out).await
        }
    }
}

fn now() -> keyward_core::UnixTime {
    keyward_core::UnixTime(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    )
}

/// On a store this process may open itself (the cluster's records).
pub async fn direct(store: &dyn Records, action: Action, out: &mut impl Write) -> anyhow::Result<()> {
    match action {
        Action::List { sub, client, json } => {
            let list = consents::list(store, &Filter { sub, client, resource: None }, now()).await?;
            print(&list, json, out)
        }
        Action::Revoke { sub, client, resource } => {
            let revoked = consents::revoke(store, &sub, &client, resource.as_deref(), now()).await?;
            said(&revoked, out)
        }
    }
}

fn print(list: &[ConsentView], json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&serde_json::json!({ "consents": list }))?)?;
    } else {
        write!(out, "{}", consents::table(list, |_| None))?;
    }
    Ok(())
}

fn said(revoked: &[String], out: &mut impl Write) -> anyhow::Result<()> {
    if revoked.is_empty() {
        writeln!(out, "no consent matched: nothing revoked")?;
    }
    for r in revoked {
        writeln!(out, "revoked the consent for {r}")?;
    }
    Ok(())
}

async fn via_hub(hub: &str, id: &str, secret: &str, action: Action, out: &mut impl Write) -> anyhow::Result<()> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let json = match &action {
        Action::List { sub, client, json } => {
            q.append_pair("action", "list");
            sub.iter().for_each(|s| {
                q.append_pair("sub", s);
            });
            client.iter().for_each(|c| {
                q.append_pair("client", c);
            });
            *json
        }
        Action::Revoke { sub, client, resource } => {
            q.append_pair("action", "revoke").append_pair("sub", sub).append_pair("client", client);
            resource.iter().for_each(|r| {
                q.append_pair("resource", r);
            });
            false
        }
    };
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))));
    let url = format!("{}/admin/consents", hub.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .header("authorization", basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(q.finish())
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("the hub's answer is not JSON")?;
    if !status.is_success() {
        bail!(
            "the hub refused ({status}): {} {}",
            body["error"].as_str().unwrap_or(""),
            body["error_description"].as_str().unwrap_or("")
        );
    }
    match action {
        Action::List { .. } => {
            let list: Vec<ConsentView> = serde_json::from_value(body["consents"].clone()).unwrap_or_default();
            let live: std::collections::HashMap<(String, String, String), bool> = body["consents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                    ((s("sub"), s("client"), s("resource")), c["clientLive"].as_bool().unwrap_or(true))
                })
                .collect();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
            } else {
                let table = consents::table(&list, |c| {
                    live.get(&(c.sub.clone(), c.client.clone(), c.resource.clone())).copied()
                });
                write!(out, "{table}")?;
            }
            Ok(())
        }
        Action::Revoke { .. } => {
            let revoked: Vec<String> = serde_json::from_value(body["revoked"].clone()).unwrap_or_default();
            said(&revoked, out)
        }
    }
}
