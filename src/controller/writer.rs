//! The leader's writes. Only the Lease holder runs a pass; every pass is
//! level-triggered (it compares what is with what should be, so running it
//! twice writes nothing the second time): signing keys, the JWKS ConfigMap,
//! client Secrets, status of the three kinds, and events on transitions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use keyward_api::v1alpha1::{AccessPolicy, IdentityProvider, OAuthClient, Resource, TokenEndpointAuthMethod};
use keyward_core::UnixTime;
use keyward_core::keys::RotationPolicy;
use keyward_core::model::{Kind, ObjectKey, default_client_id};
use keyward_core::protected_resource;
use keyward_core::snapshot::HubSettings;
use keyward_core::status::{ObjectStatus, Problem, Reason};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource as _, ResourceExt};
use tokio::sync::watch as channel;

use super::client_secret::{Desired, Owner};
use super::secret_sync::{self, Outcome, SyncError};
use super::status as build;
use super::{Compiled, RunOptions, Watches, election, keys};
use crate::metrics::KindResult;
use crate::server::AppState;

/// Status writes and Secret writes in flight at once.
const CONCURRENCY: usize = 16;
/// Status is applied under one manager whichever replica leads, so a new
/// leader owns (and may change) what the previous one wrote. The Lease is
/// not: each replica takes it under its own manager (`election.rs`).
const FIELD_MANAGER: &str = "keyward";

struct Ctx {
    client: Client,
    opts: RunOptions,
    state: Arc<AppState>,
    watches: Watches,
    recorder: Recorder,
    rng: SystemRandom,
}

pub async fn leader_loop(
    client: Client,
    opts: RunOptions,
    state: Arc<AppState>,
    watches: Watches,
    mut compiled: channel::Receiver<Option<Arc<Compiled>>>,
    leader_out: channel::Sender<bool>,
) {
    let reporter = Reporter { controller: "keyward".into(), instance: Some(opts.identity.clone()) };
    let ctx = Ctx {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        opts,
        state,
        watches,
        rng: SystemRandom::new(),
    };
    loop {
        // (Re)join the election; a manager whose task ended is replaced.
        let manager = election::join(
            ctx.client.clone(),
            &ctx.opts.namespace,
            &ctx.opts.lease(),
            &ctx.opts.identity,
            ctx.opts.lease_seconds,
        )
        .await;
        let manager = match manager {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot join leader election; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let (mut leading, task) = manager.watch().await;
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                r = leading.changed() => if r.is_err() { break },
                r = compiled.changed() => if r.is_err() { return },
                _ = tick.tick() => {}
            }
            let is_leader = *leading.borrow_and_update();
            if leader_out.send_replace(is_leader) != is_leader {
                tracing::info!(identity = %ctx.opts.identity, leader = is_leader, "leadership changed");
            }
            ctx.state.metrics.leader.set(i64::from(is_leader));
            if !is_leader {
                continue;
            }
            let current = compiled.borrow_and_update().clone();
            pass(&ctx, current.as_deref()).await;
        }
        leader_out.send_replace(false);
        ctx.state.metrics.leader.set(0);
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "leader election stopped; rejoining");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn time(t: UnixTime) -> Time {
    Time(i64::try_from(t.0).ok().and_then(|s| k8s_openapi::jiff::Timestamp::from_second(s).ok()).unwrap_or_default())
}

fn count(ctx: &Ctx, kind: &'static str, ok: bool) {
    ctx.state.metrics.reconciles.get_or_create(&KindResult { kind, result: if ok { "ok" } else { "error" } }).inc();
}

async fn pass(ctx: &Ctx, compiled: Option<&Compiled>) {
    let started = Instant::now();
    keys_pass(ctx).await;
    let Some(c) = compiled else { return };
    let now = ctx.state.now();
    let statuses: HashMap<(Kind, &ObjectKey), &ObjectStatus> =
        c.statuses.iter().map(|s| ((s.kind, &s.key), s)).collect();
    let secrets: HashMap<ObjectKey, Arc<Secret>> = c
        .objects
        .secrets
        .iter()
        .map(|s| (ObjectKey::new(s.namespace().unwrap_or_default(), s.name_any()), Arc::clone(s)))
        .collect();
    let identifiers: HashMap<&ObjectKey, &str> = c.snapshot.resources().map(|r| (&r.key, &*r.identifier)).collect();

    futures::stream::iter(c.objects.clients.iter())
        .for_each_concurrent(CONCURRENCY, |obj| {
            let key = ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any());
            let st = statuses.get(&(Kind::OAuthClient, &key)).copied();
            let secrets = &secrets;
            let identifiers = &identifiers;
            async move {
                if obj.meta().deletion_timestamp.is_some() {
                    return;
                }
                let Some(st) = st else { return };
                if let Next::Status(st) = client_secret_pass(ctx, c, obj, st, secrets, identifiers, now).await {
                    client_status_pass(ctx, obj, &st, now).await;
                }
            }
        })
        .await;
    futures::stream::iter(c.objects.resources.iter())
        .for_each_concurrent(CONCURRENCY, |obj| {
            let key = ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any());
            let st = statuses.get(&(Kind::Resource, &key)).copied();
            async move {
                if let Some(st) = st {
                    resource_status_pass(ctx, &c.snapshot.settings, obj, st, now).await;
                }
            }
        })
        .await;
    futures::stream::iter(c.objects.policies.iter())
        .for_each_concurrent(CONCURRENCY, |obj| {
            let key = ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any());
            let st = statuses.get(&(Kind::AccessPolicy, &key)).copied();
            async move {
                if let Some(st) = st {
                    policy_status_pass(ctx, obj, st, now).await;
                }
            }
        })
        .await;
    futures::stream::iter(c.objects.identity_providers.iter())
        .for_each_concurrent(CONCURRENCY, |obj| {
            let key = ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any());
            let st = statuses.get(&(Kind::IdentityProvider, &key)).copied();
            async move {
                if let Some(st) = st {
                    provider_status_pass(ctx, obj, st, now).await;
                }
            }
        })
        .await;
    ctx.state
        .metrics
        .reconcile_seconds
        .get_or_create(&crate::metrics::Kind { kind: "pass" })
        .observe(started.elapsed().as_secs_f64());
}

async fn keys_pass(ctx: &Ctx) {
    let retain = ctx.state.hub.load().longest_access_token_lifetime().max(ctx.opts.lifetimes.access_token)
        + Duration::from_secs(60);
    let policy = RotationPolicy {
        algorithm: ctx.opts.key_algorithm,
        rotate_after: ctx.opts.key_rotation,
        publish_ahead: Duration::from_secs(3600).min(ctx.opts.key_rotation / 4),
        retain_after_retire: retain,
    };
    let current = ctx.watches.keys_secret();
    let name = ctx.opts.keys_secret();
    match keys::reconcile(&ctx.client, &ctx.opts.namespace, &name, current.as_deref(), &policy, ctx.state.now()).await {
        Ok(Some(keys)) => {
            count(ctx, "SigningKeys", true);
            tracing::info!(kid = %keys.active.kid, "signing keys written");
            ctx.state.keys.store(Some(Arc::new(keys)));
        }
        Ok(None) => {}
        Err(e) => {
            count(ctx, "SigningKeys", false);
            tracing::warn!(error = %e, "cannot write signing keys; retrying on the next pass");
        }
    }
    let jwks = ctx.state.keys.load().as_ref().map(|k| k.jwks_json.clone());
    if let Some(jwks) = jwks {
        match keys::publish_jwks(&ctx.client, &ctx.opts.namespace, &ctx.opts.jwks_configmap(), &jwks).await {
            Ok(written) => {
                if written {
                    count(ctx, "JwksConfigMap", true);
                }
            }
            Err(e) => {
                count(ctx, "JwksConfigMap", false);
                tracing::warn!(error = %e, "cannot publish the JWKS ConfigMap");
            }
        }
    }
}

fn new_secret(rng: &SystemRandom) -> String {
    let mut raw = [0u8; 32];
    // Without randomness there is no safe secret: an empty value makes the
    // create fail loudly rather than write something guessable.
    if rng.fill(&mut raw).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// What a client's pass does after its Secret.
enum Next {
    /// Write this status.
    Status(ObjectStatus),
    /// A Secret was created: it reaches the snapshot through the watch, and
    /// the status follows with the next compile rather than being written twice.
    AwaitSecret,
    /// The cached client is not the API server's any more: no write at all
    /// from this stale view; the watch brings the change.
    Skip,
}

/// Brings the client's Secret in line (`secret_sync.rs`); says what to do
/// with the status (with the Secret's own problem if any).
async fn client_secret_pass(
    ctx: &Ctx,
    c: &Compiled,
    obj: &OAuthClient,
    st: &ObjectStatus,
    secrets: &HashMap<ObjectKey, Arc<Secret>>,
    identifiers: &HashMap<&ObjectKey, &str>,
    now: UnixTime,
) -> Next {
    let mut st = st.clone();
    let key = &st.key;
    let Some(model) = c.clients.get(key) else { return Next::Status(st) };
    // A private_key_jwt client has nothing secret for the hub to write. A
    // Secret generated before it switched is left to its owner reference:
    // its client_secret no longer authenticates anything.
    let Some(secret_key) = model.secret_key() else { return Next::Status(st) };
    let Some(uid) = obj.meta().uid.as_deref() else { return Next::Status(st) };
    let ns = key.namespace.as_str();
    let client_id = st.client_id.clone().unwrap_or_else(|| default_client_id(key));
    let settings = &c.snapshot.settings;
    let desired = Desired {
        owner: Owner { name: &key.name, namespace: ns, uid },
        client: model,
        client_id: &client_id,
        settings,
        audiences: model.resources.iter().filter_map(|r| identifiers.get(&r.resource).copied()).collect(),
        now,
    };
    let cached = secrets.get(&secret_key).map(|s| &**s);
    let outcome = secret_sync::sync(&ctx.client, obj, &desired, cached, &mut || new_secret(&ctx.rng)).await;
    let object_ref = obj.object_ref(&());
    match outcome {
        Ok(Outcome::UpToDate) => Next::Status(st),
        Ok(Outcome::Created) => {
            count(ctx, "Secret", true);
            let note = format!("wrote credentials to Secret {}", model.secret_name);
            publish(ctx, &object_ref, EventType::Normal, "SecretCreated", note).await;
            Next::AwaitSecret
        }
        Ok(Outcome::Patched(changes)) => {
            count(ctx, "Secret", true);
            let (reason, ty) = if changes.contains(&"rotated") {
                ("SecretRotated", EventType::Normal)
            } else if changes.contains(&"regenerated") {
                ("SecretRegenerated", EventType::Warning)
            } else if changes.contains(&"adopted") {
                ("SecretAdopted", EventType::Normal)
            } else {
                ("SecretUpdated", EventType::Normal)
            };
            let note = format!("Secret {}: {}", model.secret_name, changes.join(", "));
            publish(ctx, &object_ref, ty, reason, note).await;
            Next::Status(st)
        }
        Ok(Outcome::Pending(message)) => {
            st.problems = vec![Problem::new(Reason::SecretPending, "spec.secret.name", message)];
            Next::Status(st)
        }
        Ok(Outcome::Conflict(message)) => {
            st.problems = vec![Problem::new(Reason::SecretConflict, "spec.secret.name", message)];
            Next::Status(st)
        }
        Ok(Outcome::StaleOwner(stale)) => {
            tracing::debug!(object = %key, %stale, "the cached OAuthClient is stale; its Secret is left alone");
            Next::Skip
        }
        Err(e) => {
            if !matches!(e, SyncError::ReadSecret(_) | SyncError::ReadOwner(_)) {
                count(ctx, "Secret", false);
            }
            tracing::warn!(object = %key, error = %e, "client Secret not written; retrying on the next pass");
            Next::Status(st)
        }
    }
}

async fn publish(
    ctx: &Ctx,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event { type_, reason: reason.into(), note: Some(note), action: "Reconcile".into(), secondary: None };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        tracing::debug!(error = %e, "cannot publish an event");
    }
}

fn ready_of(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Option<&str> {
    conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.status.as_str())
}

/// Events on Ready transitions, so `kubectl describe` tells the story.
async fn transition_event(
    ctx: &Ctx,
    obj_ref: &k8s_openapi::api::core::v1::ObjectReference,
    before: Option<&str>,
    st: &ObjectStatus,
) {
    let now_ready = st.ready();
    if before == Some(if now_ready { "True" } else { "False" }) {
        return;
    }
    if now_ready {
        publish(ctx, obj_ref, EventType::Normal, "Ready", "accepted into the hub".into()).await;
    } else {
        publish(ctx, obj_ref, EventType::Warning, st.reason(), st.message()).await;
    }
}

async fn apply_status<K>(ctx: &Ctx, obj: &K, status: serde_json::Value, kind: &'static str)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let result =
        api.patch_status(&obj.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await;
    count(ctx, kind, result.is_ok());
    if let Err(e) = result {
        tracing::warn!(kind, object = %obj.name_any(), error = %e, "cannot write status");
    }
}

async fn client_status_pass(ctx: &Ctx, obj: &OAuthClient, st: &ObjectStatus, now: UnixTime) {
    let secret_name = c_secret_name(obj);
    let desired = build::client_status(st, secret_name.as_deref(), obj.status.as_ref(), &time(now));
    if build::client_unchanged(&desired, obj.status.as_ref()) {
        return;
    }
    let before = obj.status.as_ref().and_then(|s| ready_of(&s.conditions));
    transition_event(ctx, &obj.object_ref(&()), before, st).await;
    apply_status(ctx, obj, serde_json::to_value(&desired).unwrap_or_default(), "OAuthClient").await;
}

/// The client's Secret; none for `private_key_jwt` or `federated_jwt`,
/// which hold no secret.
fn c_secret_name(obj: &OAuthClient) -> Option<String> {
    if matches!(
        obj.spec.token_endpoint_auth_method,
        Some(TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::FederatedJwt)
    ) {
        return None;
    }
    Some(
        obj.spec
            .secret
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| keyward_api::convert::oauth_client::default_secret_name(&obj.name_any())),
    )
}

async fn resource_status_pass(ctx: &Ctx, settings: &HubSettings, obj: &Resource, st: &ObjectStatus, now: UnixTime) {
    // Only a Resource in the snapshot has its document served.
    let published = st
        .ready()
        .then(|| (protected_resource::url(settings, &st.key), protected_resource::challenge(settings, &st.key)));
    let desired = build::resource_status(st, published, obj.status.as_ref(), &time(now));
    if build::resource_unchanged(&desired, obj.status.as_ref()) {
        return;
    }
    let before = obj.status.as_ref().and_then(|s| ready_of(&s.conditions));
    transition_event(ctx, &obj.object_ref(&()), before, st).await;
    apply_status(ctx, obj, serde_json::to_value(&desired).unwrap_or_default(), "Resource").await;
}

async fn provider_status_pass(ctx: &Ctx, obj: &IdentityProvider, st: &ObjectStatus, now: UnixTime) {
    let callback = matches!(obj.spec.provider_type, keyward_api::v1alpha1::IdentityProviderType::Oidc).then(|| {
        let key = ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any());
        format!("{}{}", ctx.opts.issuer.trim_end_matches('/'), keyward_core::identity::callback_path(&key))
    });
    let desired = build::provider_status(st, callback, obj.status.as_ref(), &time(now));
    if build::provider_unchanged(&desired, obj.status.as_ref()) {
        return;
    }
    let before = obj.status.as_ref().and_then(|s| ready_of(&s.conditions));
    transition_event(ctx, &obj.object_ref(&()), before, st).await;
    apply_status(ctx, obj, serde_json::to_value(&desired).unwrap_or_default(), "IdentityProvider").await;
}

async fn policy_status_pass(ctx: &Ctx, obj: &AccessPolicy, st: &ObjectStatus, now: UnixTime) {
    let desired = build::policy_status(st, obj.status.as_ref(), &time(now));
    if build::policy_unchanged(&desired, obj.status.as_ref()) {
        return;
    }
    let before = obj.status.as_ref().and_then(|s| ready_of(&s.conditions));
    transition_event(ctx, &obj.object_ref(&()), before, st).await;
    apply_status(ctx, obj, serde_json::to_value(&desired).unwrap_or_default(), "AccessPolicy").await;
}
