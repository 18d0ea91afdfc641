//! Clients for the test API servers, CRD installation, and a replica of the
//! controller running in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use keyward::controller::{self, Clients, RunOptions, Running};
use keyward_core::UnixTime;
use keyward_core::keys::Algorithm;
use keyward_core::snapshot::Lifetimes;
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::sync::OnceCell;

pub const START: u64 = 1_800_000_000;

/// The client for `var`'s kubeconfig; `None` (after saying SKIP) when unset
/// outside CI.
pub async fn client(var: &str, test: &str) -> Option<Client> {
    let Ok(path) = std::env::var(var) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{var} is not set: CI must run the real API-server tier (see .ci/run)");
        }
        eprintln!("SKIP {test}: {var} is not set (start ../shared/tools/kube-fullenv or kube-testenv and export it)");
        return None;
    };
    let kubeconfig = Kubeconfig::read_from(&path).expect("kubeconfig readable");
    let config =
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("kubeconfig valid");
    Some(Client::try_from(config).expect("client"))
}

static FULLENV_CRDS: OnceCell<()> = OnceCell::const_new();
static TESTENV_CRDS: OnceCell<()> = OnceCell::const_new();

/// Installs (or updates) the generated CRDs once per server and test binary,
/// and waits until they are served. Create/update rather than server-side
/// apply: a 1.20 server refuses to apply fields it does not know (the CEL
/// rules) but silently drops them on create and update.
pub async fn install_crds(client: &Client, var: &str) {
    let once = if var == "KEYWARD_TESTENV_KUBECONFIG" { &TESTENV_CRDS } else { &FULLENV_CRDS };
    once.get_or_init(|| async {
        let api: Api<CustomResourceDefinition> = Api::all(client.clone());
        for mut crd in keyward_api::crds() {
            let name = crd.metadata.name.clone().unwrap();
            match api.get_opt(&name).await.unwrap() {
                None => {
                    api.create(&PostParams::default(), &crd).await.expect("CRD created");
                }
                Some(current) => {
                    crd.metadata.resource_version = current.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &crd).await.expect("CRD updated");
                }
            }
            for _ in 0..100 {
                let c = api.get(&name).await.unwrap();
                let established = c
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if established {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // The discovery cache of the API server needs a moment after Established.
        tokio::time::sleep(Duration::from_millis(500)).await;
    })
    .await;
}

/// A fresh namespace name for one test.
pub fn unique(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{:x}{}", nanos % 0xfffff, N.fetch_add(1, Ordering::SeqCst))
}

/// A client for `var`'s API server with the CRDs installed, and two fresh
/// namespaces: one for the test's objects, one for the hub's own.
pub async fn setup_namespaces(var: &str, test: &str) -> Option<(Client, String, String)> {
    let client = client(var, test).await?;
    install_crds(&client, var).await;
    let (ns, hub) = (unique("kw"), unique("hub"));
    create_namespace(&client, &ns).await;
    create_namespace(&client, &hub).await;
    Some((client, ns, hub))
}

pub async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.expect("namespace created");
}

/// Creates any object from YAML in its namespace.
pub async fn apply_yaml(client: &Client, yaml: &str) {
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if v.is_null() {
            continue;
        }
        apply_value(client, v).await;
    }
}

pub async fn apply_value(client: &Client, v: serde_json::Value) {
    let obj: kube::api::DynamicObject = serde_json::from_value(v.clone()).unwrap();
    let gvk = kube::api::GroupVersionKind::try_from(obj.types.as_ref().unwrap()).unwrap();
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk).await.expect("kind is served");
    let ns = obj.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
    let name = obj.metadata.name.clone().unwrap();
    api.patch(&name, &PatchParams::apply("keyward-tests").force(), &Patch::Apply(&v))
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// One replica of the controller, in-process, with a clock the test moves.
pub struct Replica {
    pub running: Option<Running>,
    pub base: String,
    pub clock: Arc<AtomicU64>,
    #[allow(dead_code)] // kept for failure messages when debugging elections
    pub identity: String,
}

pub struct ReplicaOptions {
    pub hub_namespace: String,
    pub watch: Vec<String>,
    #[allow(dead_code)] // kept for failure messages when debugging elections
    pub identity: String,
    pub lease_seconds: u64,
    pub clock: Arc<AtomicU64>,
    pub store_gc_interval: Duration,
    pub registration: keyward::registration::Limits,
}

impl ReplicaOptions {
    pub fn new(hub_namespace: &str, watch: &[&str]) -> ReplicaOptions {
        ReplicaOptions {
            hub_namespace: hub_namespace.into(),
            watch: watch.iter().map(|s| (*s).to_owned()).collect(),
            identity: unique("replica"),
            lease_seconds: 4,
            clock: Arc::new(AtomicU64::new(START)),
            store_gc_interval: Duration::from_secs(30),
            registration: keyward::registration::Limits::default(),
        }
    }
}

pub const ISSUER: &str = "https://keyward.example.test";

/// `client`: one client for everything (a `&Client`), or the clients
/// `keyward run` makes (`Clients::from_config`).
pub async fn start_replica(client: impl Into<Clients>, o: ReplicaOptions) -> Replica {
    let clock = Arc::clone(&o.clock);
    let opts = RunOptions {
        issuer: ISSUER.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        namespace: o.hub_namespace,
        name: "keyward".into(),
        identity: o.identity.clone(),
        watch_namespaces: o.watch,
        key_algorithm: Algorithm::ES256,
        key_rotation: Duration::from_secs(30 * 24 * 3600),
        lifetimes: Lifetimes::default(),
        fetch: keyward::fetch::FetchPolicy {
            allow_http: true,
            allow: vec!["127.0.0.1".parse().unwrap()],
            ..Default::default()
        },
        lease_seconds: o.lease_seconds,
        store_gc_interval: o.store_gc_interval,
        listener: Default::default(),
        audit: keyward::audit::Sink::Off,
        templates: None,
        registration: Some(o.registration),
    };
    let c = Arc::clone(&clock);
    let running =
        controller::start(client.into(), opts, Arc::new(move || UnixTime(c.load(Ordering::SeqCst)))).await.unwrap();
    let base = format!("http://{}", running.addr);
    Replica { running: Some(running), base, clock, identity: o.identity }
}

impl Replica {
    pub fn is_leader(&self) -> bool {
        *self.running.as_ref().unwrap().leader.borrow()
    }

    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }

    /// A client_credentials request with Basic credentials; the status code.
    pub async fn token(&self, id: &str, secret: &str, extra: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let r = reqwest::Client::new()
            .post(format!("{}/token", self.base))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `probe` every 100 ms for up to `secs`; panics with `what` on timeout.
pub async fn eventually<F, Fut, T>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP relay to the API server that the test can cut and restore, to play
/// an API-server outage for one replica without touching the shared server.
pub struct Relay {
    pub port: u16,
    target: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    pub async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = Relay { port, target, task: None };
        r.task = Some(Self::serve(listener, target));
        r
    }

    fn serve(listener: tokio::net::TcpListener, target: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }

    /// Drops the listener and every open connection.
    pub fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn restore(&mut self) {
        // Right after `cut` the aborted task may not have dropped its listener yet.
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on the relay's port again: {e}"),
            }
        };
        self.task = Some(Self::serve(listener, self.target));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The configuration of `var`'s kubeconfig, for 127.0.0.1:`port` (a relay,
/// or another API server with the same certificates).
pub async fn config_via(var: &str, port: u16) -> Config {
    let path = std::env::var(var).unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    // The serving certificate names 127.0.0.1, whatever the port.
    config.cluster_url = format!("https://127.0.0.1:{port}").parse().unwrap();
    config
}

/// A client for `var`'s server that goes through `relay`.
pub async fn client_via(var: &str, relay_port: u16) -> Client {
    Client::try_from(config_via(var, relay_port).await).unwrap()
}

pub async fn api_server_addr(var: &str) -> std::net::SocketAddr {
    let path = std::env::var(var).unwrap();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    let host = config.cluster_url.host().unwrap().to_owned();
    let port = config.cluster_url.port_u16().unwrap_or(443);
    tokio::net::lookup_host((host.as_str(), port)).await.unwrap().next().unwrap()
}

/// Fails the list and watch requests of one collection (a path ending in
/// `/<collection>`) while closed; single reads and writes pass. With a
/// [`Relay`] cut and restored, it leaves one watch's cache stale while the
/// others resume: what an API-server restart does when the watches come back
/// one after another.
#[derive(Clone)]
pub struct Gate {
    closed: Arc<std::sync::atomic::AtomicBool>,
    collection: &'static str,
}

impl Gate {
    pub fn new(collection: &'static str) -> Gate {
        Gate { closed: Arc::default(), collection }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct Gated<S> {
    inner: S,
    gate: Gate,
}

impl<S> tower::Service<http::Request<kube::client::Body>> for Gated<S>
where
    S: tower::Service<http::Request<kube::client::Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        if self.gate.closed.load(Ordering::SeqCst) && req.uri().path().ends_with(&format!("/{}", self.gate.collection))
        {
            return Box::pin(async { Err("the test's gate is closed".into()) });
        }
        let call = self.inner.call(req);
        Box::pin(async move { call.await.map_err(Into::into) })
    }
}

/// A client for `var`'s server through `relay` and `gate`.
pub async fn gated_client_via(var: &str, relay_port: u16, gate: &Gate) -> Client {
    let gate = gate.clone();
    kube::client::ClientBuilder::try_from(config_via(var, relay_port).await)
        .unwrap()
        .with_layer(&tower::layer::layer_fn(move |inner| Gated { inner, gate: gate.clone() }))
        .build()
}

/// A kube-apiserver of the test's own on kube-fullenv's etcd, which the test
/// may stop and start again (a restart: the etcd and everything in it stay;
/// the API server's watch cache, and so the resourceVersions watches resume
/// from, do not). The shared API server, and the tests running against it,
/// are not disturbed. Started with kube-fullenv's own command line (read from
/// its running API server), on another port.
pub struct OwnApiServer {
    exe: std::path::PathBuf,
    args: Vec<String>,
    dir: std::path::PathBuf,
    log: std::path::PathBuf,
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnApiServer {
    /// `None` (after saying SKIP) when `var`'s kubeconfig is not kube-fullenv's
    /// (`WORKDIR/run/kubeconfig`, with `WORKDIR/kube-apiserver.pid`) outside CI.
    pub fn from_fullenv(var: &str, test: &str) -> Option<OwnApiServer> {
        let found = (|| {
            let kubeconfig = std::path::PathBuf::from(std::env::var(var).ok()?);
            let workdir = kubeconfig.parent()?.parent()?;
            let pid: u32 = std::fs::read_to_string(workdir.join("kube-apiserver.pid")).ok()?.trim().parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let dir = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
            let mut args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let exe = std::path::PathBuf::from(args.remove(0));
            Some((exe, args, dir))
        })();
        let Some((exe, mut args, dir)) = found else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{var} is not kube-fullenv's running API server: {test} cannot start its own");
            }
            eprintln!("SKIP {test}: {var} is not a running kube-fullenv (WORKDIR/run/kubeconfig)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let at = args.iter().position(|a| a == "--secure-port").expect("kube-fullenv passes --secure-port");
        args[at + 1] = port.to_string();
        let log = std::env::temp_dir().join(format!("{}.log", unique("own-apiserver")));
        Some(OwnApiServer { exe, args, dir, log, port, child: None })
    }

    /// Starts it and waits until it answers `/readyz`. Under `timeout`, so
    /// that it goes away within minutes even if the test binary is killed
    /// before it can stop it.
    pub async fn start(&mut self, var: &str) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = std::process::Command::new("timeout")
            .args(["-s", "KILL", "300"])
            .arg(&self.exe)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("kube-apiserver starts");
        self.child = Some(child);
        let client = self.client(var).await;
        let what = format!("own API server ready (log {})", self.log.display());
        eventually(90, &what, || {
            let client = client.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new()).unwrap();
                client.request_text(req).await.ok().filter(|t| t.trim() == "ok").map(|_| ())
            }
        })
        .await;
    }

    /// Stops it (SIGTERM, which `timeout` passes on; it exits within ~2 s)
    /// and waits until it has exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = std::process::Command::new("kill").arg(child.id().to_string()).status();
        for _ in 0..200 {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("the test's own kube-apiserver did not stop within 10 s (log {})", self.log.display());
    }

    pub async fn client(&self, var: &str) -> Client {
        client_via(var, self.port).await
    }

    /// The clients `keyward run` makes, for this API server.
    pub async fn clients(&self, var: &str) -> Clients {
        Clients::from_config(config_via(var, self.port).await).unwrap()
    }
}

impl Drop for OwnApiServer {
    fn drop(&mut self) {
        self.stop();
        // Kept when the test failed: the API server's side of the story.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
