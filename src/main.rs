//! Wiring only: arguments, logging, runtime, then one command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use keyward::check::{self, CheckOptions};
use keyward::controller::{self, RunOptions};
use keyward::explain::{ExplainOptions, Output as ExplainOutput, Source as ExplainSource};
use keyward::explanation::Query;
use keyward::serve::{self, ServeOptions};
use keyward::server::listener::Limits;
use keyward_core::UnixTime;
use keyward_core::keys::Algorithm;
use keyward_core::snapshot::{Lifetimes, Runtime};

#[derive(Parser)]
#[command(name = "keyward", version, about = "An OAuth 2.1 / OpenID identity hub for AI agents and MCP servers")]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, env = "KEYWARD_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// Outbound fetches (trusted issuers' discovery, JWKS, userinfo): https only
/// and never to loopback, private, link-local or metadata addresses, unless
/// allowed here.
#[derive(clap::Args)]
struct FetchArgs {
    /// Addresses (CIDR or IP) and host names the hub may fetch from although
    /// they are private or loopback, e.g. an issuer inside the cluster.
    #[arg(long = "fetch-allow", env = "KEYWARD_FETCH_ALLOW", value_delimiter = ',')]
    allow: Vec<String>,
    /// Also allow plain http (a test issuer on a laptop).
    #[arg(long = "fetch-allow-http", env = "KEYWARD_FETCH_ALLOW_HTTP")]
    allow_http: bool,
}

impl FetchArgs {
    fn policy(&self) -> Result<keyward::fetch::FetchPolicy, keyward::fetch::InvalidAllowEntry> {
        let allow = self.allow.iter().filter(|a| !a.is_empty()).map(|a| a.parse()).collect::<Result<_, _>>()?;
        Ok(keyward::fetch::FetchPolicy { allow_http: self.allow_http, allow, ..Default::default() })
    }
}

/// The HTTP listener's limits, sized for clients that reach the hub with no
/// reverse proxy in front (docs/deploy.md explains the defaults).
#[derive(clap::Args)]
struct ListenerArgs {
    /// Seconds a client has to send a request's line and headers, counted from
    /// connecting or from the request's first byte.
    #[arg(long, env = "KEYWARD_HEADER_READ_TIMEOUT_SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600),
          default_value_t = Limits::DEFAULT.header_read.as_secs())]
    header_read_timeout_seconds: u64,
    /// Seconds a client has to send a request's whole body once the headers are in.
    #[arg(long, env = "KEYWARD_BODY_READ_TIMEOUT_SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600),
          default_value_t = Limits::DEFAULT.body_read.as_secs())]
    body_read_timeout_seconds: u64,
    /// Seconds a keep-alive connection may wait for its next request.
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT_SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600),
          default_value_t = Limits::DEFAULT.idle.as_secs())]
    idle_timeout_seconds: u64,
    /// Connections open at once, per listener; over it new ones wait in the
    /// kernel's accept queue.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1_000_000),
          default_value_t = Limits::DEFAULT.max_connections)]
    max_connections: u32,
    /// On SIGTERM, seconds requests in flight may take before their connections are dropped.
    #[arg(long, env = "KEYWARD_SHUTDOWN_GRACE_SECONDS", value_parser = clap::value_parser!(u64).range(0..=3600),
          default_value_t = Limits::DEFAULT.shutdown_grace.as_secs())]
    shutdown_grace_seconds: u64,
}

impl ListenerArgs {
    fn limits(&self) -> Limits {
        Limits {
            header_read: Duration::from_secs(self.header_read_timeout_seconds),
            body_read: Duration::from_secs(self.body_read_timeout_seconds),
            idle: Duration::from_secs(self.idle_timeout_seconds),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
        }
    }
}

/// What `serve` and `run` share: signing, lifetimes, threads, fetches, the listener.
#[derive(clap::Args)]
struct HubArgs {
    #[arg(long, value_enum, default_value_t = KeyAlg::Es256)]
    key_algorithm: KeyAlg,
    /// How long a signing key signs before the next one takes over, in hours.
    #[arg(long, default_value_t = 720)]
    key_rotation_hours: u64,
    /// Hub-wide access-token lifetime in seconds, where neither client nor resource sets one.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(60..=86400))]
    access_token_ttl: u64,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    listener: ListenerArgs,
    /// Where the audit trail goes: one JSON line per token decision and admin
    /// call (docs/audit.md). The diagnostic log stays on stderr.
    #[arg(long, value_enum, default_value_t = AuditLog::Stdout, env = "KEYWARD_AUDIT_LOG")]
    audit_log: AuditLog,
    /// A folder whose base.html, login.html, consent.html, error.html and
    /// style.css replace the built-in sign-in pages (any subset; docs/people.md).
    #[arg(long, env = "KEYWARD_TEMPLATES")]
    templates: Option<PathBuf>,
    #[command(flatten)]
    registration: RegistrationArgs,
}

/// Dynamic Client Registration (RFC 7591, docs/mcp.md).
#[derive(clap::Args, Clone)]
struct RegistrationArgs {
    /// `open`: any client may register itself at /register, as MCP clients
    /// expect; `off`: only clients with a manifest exist.
    #[arg(long, value_enum, default_value_t = RegistrationMode::Open, env = "KEYWARD_CLIENT_REGISTRATION")]
    client_registration: RegistrationMode,
    /// The most registered clients the hub keeps.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_registered_clients: u64,
    /// Registrations accepted per client address (IPv6: per /64) every ten minutes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    registrations_per_address: u32,
    /// `open`: a client_id that is an https URL names the client's metadata
    /// document, fetched and checked at /authorize (the MCP default); `off`:
    /// such ids are unknown clients.
    #[arg(long, value_enum, default_value_t = RegistrationMode::Open, env = "KEYWARD_METADATA_DOCUMENTS")]
    metadata_documents: RegistrationMode,
    /// For local tests only: a PEM file of extra CA certificates trusted for
    /// metadata documents.
    #[arg(long, env = "KEYWARD_METADATA_DOCUMENT_CA")]
    metadata_document_ca: Option<PathBuf>,
    /// For local tests only: addresses (CIDR, IP or host name) metadata
    /// documents may be fetched from although they are loopback or private.
    #[arg(long, env = "KEYWARD_METADATA_DOCUMENT_ALLOW", value_delimiter = ',')]
    metadata_document_allow: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RegistrationMode {
    Open,
    Off,
}

impl RegistrationArgs {
    fn limits(&self) -> anyhow::Result<Option<keyward::registration::Limits>> {
        let dynamic = self.client_registration == RegistrationMode::Open;
        let documents = match self.metadata_documents {
            RegistrationMode::Off => None,
            RegistrationMode::Open => {
                let mut policy = keyward::registration::DocumentPolicy::default();
                policy.fetch.allow = self
                    .metadata_document_allow
                    .iter()
                    .map(|a| a.parse())
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("--metadata-document-allow: {e}"))?;
                if let Some(path) = &self.metadata_document_ca {
                    policy.ca_pem = Some(
                        std::fs::read_to_string(path)
                            .map_err(|e| anyhow::anyhow!("--metadata-document-ca {}: {e}", path.display()))?,
                    );
                }
                Some(policy)
            }
        };
        if !dynamic && documents.is_none() {
            return Ok(None);
        }
        Ok(Some(keyward::registration::Limits {
            dynamic,
            documents,
            max_clients: usize::try_from(self.max_registered_clients).unwrap_or(usize::MAX),
            per_address: self.registrations_per_address,
            ..keyward::registration::Limits::default()
        }))
    }
}

impl HubArgs {
    fn audit(&self) -> keyward::audit::Sink {
        match self.audit_log {
            AuditLog::Stdout => keyward::audit::Sink::Stdout,
            AuditLog::Stderr => keyward::audit::Sink::Stderr,
            AuditLog::Off => keyward::audit::Sink::Off,
        }
    }

    fn key_rotation(&self) -> Duration {
        Duration::from_secs(self.key_rotation_hours.max(1) * 3600)
    }

    fn lifetimes(&self) -> Lifetimes {
        Lifetimes { access_token: Duration::from_secs(self.access_token_ttl), ..Lifetimes::default() }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuditLog {
    Stdout,
    Stderr,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyAlg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "RS256")]
    Rs256,
}

#[derive(Subcommand)]
enum Command {
    /// List or revoke users' consents: through a running hub's admin API
    /// (`--hub`, with an admin client's credentials) or, in a cluster,
    /// straight from the hub's records (`--cluster`).
    Consents {
        #[command(subcommand)]
        action: ConsentAction,
        /// The hub's issuer URL (keyward serve or run).
        #[arg(long, env = "KEYWARD_HUB", conflicts_with = "cluster")]
        hub: Option<String>,
        /// An OAuthClient tagged keyward-admin (client_secret_basic), for --hub.
        #[arg(long, env = "KEYWARD_ADMIN_CLIENT_ID")]
        admin_client_id: Option<String>,
        #[arg(long, env = "KEYWARD_ADMIN_CLIENT_SECRET", hide_env_values = true)]
        admin_client_secret: Option<String>,
        /// Read and delete the records in the cluster (KUBECONFIG or in-cluster).
        #[arg(long)]
        cluster: bool,
        /// With --cluster: the hub's namespace.
        #[arg(long, default_value = "keyward")]
        namespace: String,
        /// With --cluster: the hub's --name.
        #[arg(long, default_value = "keyward")]
        name: String,
    },
    /// Print the argon2id hash (PHC form) of the password read from standard
    /// input, for a static IdentityProvider's password Secret.
    HashPassword,
    /// Put the hub's tokens in front of an unmodified MCP server: a reverse
    /// proxy that checks tokens, answers 401/403 with the challenges MCP
    /// clients follow, and forwards with the caller in X-Keyward-* headers.
    Gateway {
        /// The MCP server, e.g. http://127.0.0.1:3000 (paths are kept).
        #[arg(long, env = "KEYWARD_UPSTREAM")]
        upstream: String,
        /// The Resource's protected-resource metadata at the hub
        /// (status.protectedResourceMetadataURL).
        #[arg(long, env = "KEYWARD_RESOURCE_METADATA")]
        resource_metadata: String,
        #[arg(long, default_value = "127.0.0.1:8090", env = "KEYWARD_LISTEN")]
        listen: SocketAddr,
        /// Tokio worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        fetch: FetchArgs,
        #[command(flatten)]
        listener: ListenerArgs,
    },
    /// The clients a `keyward serve` hub knows: its manifests' and those that
    /// registered themselves, with their origin. In a cluster: `kubectl get
    /// oauthclients -A`.
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Run the hub on a folder of OAuthClient, Resource and AccessPolicy manifests.
    Serve {
        /// Folder of YAML manifests (read recursively; reloaded on change).
        #[arg(long, env = "KEYWARD_MANIFESTS")]
        manifests: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080", env = "KEYWARD_LISTEN")]
        listen: SocketAddr,
        /// Keys, generated client credentials and the runtime store.
        #[arg(long, default_value = ".keyward", env = "KEYWARD_STATE_DIR")]
        state_dir: PathBuf,
        /// The token issuer (`iss`). Default: http://<listen>.
        #[arg(long, env = "KEYWARD_ISSUER")]
        issuer: Option<String>,
        /// Namespace of manifests that do not set one.
        #[arg(long, default_value = "default")]
        namespace: String,
        #[command(flatten)]
        hub: HubArgs,
    },
    /// Run the hub in a cluster (or against KUBECONFIG): watch the CRs, serve tokens, write Secrets and status as leader.
    Run {
        /// The token issuer (`iss`), e.g. https://auth.example.com.
        #[arg(long, env = "KEYWARD_ISSUER")]
        issuer: String,
        #[arg(long, default_value = "0.0.0.0:8080", env = "KEYWARD_LISTEN")]
        listen: SocketAddr,
        /// Metrics and probes.
        #[arg(long, default_value = "0.0.0.0:9090", env = "KEYWARD_ADMIN_LISTEN")]
        admin_listen: SocketAddr,
        /// The hub's own namespace (signing keys, JWKS ConfigMap, Lease).
        /// Default: the pod's, from its service-account mount.
        #[arg(long, env = "POD_NAMESPACE")]
        namespace: Option<String>,
        /// Prefix of the hub's own objects.
        #[arg(long, default_value = "keyward", env = "KEYWARD_NAME")]
        name: String,
        /// Leader-election identity, unique per replica. Default: the host
        /// name (a pod's name) and the process id.
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Namespaces to watch, comma-separated; empty: all.
        #[arg(long, env = "KEYWARD_WATCH_NAMESPACES", value_delimiter = ',', default_value = "")]
        watch_namespaces: Vec<String>,
        /// How long the leader's Lease holds without a renewal. Shorter: a dead
        /// leader is replaced sooner, for more Lease writes and more risk of
        /// losing the lead to API latency (docs/operator.md).
        #[arg(long, default_value_t = 15, env = "KEYWARD_LEASE_DURATION_SECONDS",
              value_parser = clap::value_parser!(u64).range(5..=300))]
        lease_duration_seconds: u64,
        #[command(flatten)]
        hub: HubArgs,
    },
    /// Load and compile a folder of manifests once; report every object; exit 1 if any is not Ready.
    Check {
        #[arg(long)]
        manifests: PathBuf,
        #[arg(long, default_value = "default")]
        namespace: String,
        /// The hub that will read the manifests.
        #[arg(long = "for", value_enum, default_value_t = Target::Cluster)]
        target: Target,
    },
    /// Explain a token request: the decision and every rule behind it, from a folder or the cluster.
    /// Exits 0 when something would be granted, 1 when nothing, 2 on error.
    Explain {
        /// The client id of the requesting OAuthClient.
        #[arg(long)]
        client: String,
        /// The `resource` (a Resource's identifier). Left out: the client's only Resource.
        #[arg(long)]
        resource: Option<String>,
        /// The `scope` parameter, e.g. "orders:read orders:write". Left out: the default (the whole association).
        #[arg(long)]
        scope: Option<String>,
        /// clientCredentials, jwtBearer, tokenExchange, authorizationCode, refreshToken or ciba.
        #[arg(long, default_value = "clientCredentials")]
        grant: String,
        /// The token's subject besides the client, e.g. system:serviceaccount:agents:bot.
        #[arg(long)]
        subject: Option<String>,
        /// The subject's roles, separated by commas or spaces.
        #[arg(long, num_args = 1..)]
        roles: Vec<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// The request's time in Unix seconds (for time-based conditions). Default: now.
        #[arg(long)]
        time: Option<u64>,
        /// Folder of YAML manifests. Left out: the cluster (--kubeconfig, KUBECONFIG or in-cluster).
        #[arg(long, conflicts_with = "kubeconfig")]
        manifests: Option<PathBuf>,
        /// Namespace of manifests that do not set one (with --manifests).
        #[arg(long, default_value = "default")]
        namespace: String,
        /// With --manifests: the hub that will read them.
        #[arg(long = "for", value_enum, default_value_t = Target::Cluster)]
        target: Target,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

/// Which hub a folder of manifests is for: what `keyward run` honours and
/// `keyward serve` does not (a TokenReview, the cluster's own service-account
/// issuer, secret rotation) is judged by it.
#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// `keyward run` in a cluster: manifests kept in Git are for one.
    Cluster,
    /// `keyward serve` on this folder.
    Serve,
}

impl From<Target> for Runtime {
    fn from(t: Target) -> Runtime {
        match t {
            Target::Cluster => Runtime::Cluster,
            Target::Serve => Runtime::Folder,
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum ClientsAction {
    /// Every client, with its origin (manifest or dcr), auth method, readiness and Resources.
    List {
        #[arg(long, env = "KEYWARD_MANIFESTS")]
        manifests: PathBuf,
        #[arg(long, default_value = ".keyward", env = "KEYWARD_STATE_DIR")]
        state_dir: PathBuf,
        #[arg(long, default_value = "default")]
        namespace: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum ConsentAction {
    /// Every consent, or one user's (--sub) or one client's (--client).
    List {
        #[arg(long)]
        sub: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Revoke a user's consent to a client (every resource, or --resource):
    /// its refresh tokens stop at their next use; the client stays.
    Revoke {
        #[arg(long)]
        sub: String,
        #[arg(long)]
        client: String,
        #[arg(long)]
        resource: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// The diagnostic log, on stderr (RUST_LOG filters it). The audit trail has
/// its own stream (`--audit-log`).
/// One line of standard input (without its newline) → its argon2id hash.
fn hash_password() -> anyhow::Result<ExitCode> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    let mut raw = [0u8; 16];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash =
        argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colour codes only where a person reads them; a log collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::HashPassword => hash_password(),
        Command::Gateway { upstream, resource_metadata, listen, workers, fetch, listener } => {
            let fetch = match fetch.policy() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(2);
                }
            };
            let opts = keyward::gateway::GatewayOptions {
                listen,
                upstream,
                resource_metadata,
                fetch,
                listener: listener.limits(),
                max_body: keyward::gateway::GatewayOptions::MAX_BODY,
                refresh: Duration::from_secs(60),
            };
            runtime(workers)
                .and_then(|rt| {
                    rt.block_on(async {
                        let gw = keyward::gateway::start(opts, keyward::server::system_clock()).await?;
                        shutdown().await;
                        tracing::info!("shutting down");
                        gw.shutdown().await;
                        Ok(())
                    })
                })
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Clients { action: ClientsAction::List { manifests, state_dir, namespace } } => {
            keyward::clients_cli::list(
                &keyward::clients_cli::ListOptions { manifests, state_dir, namespace },
                &mut std::io::stdout(),
            )
            .map(|()| ExitCode::SUCCESS)
        }
        Command::Consents { action, hub, admin_client_id, admin_client_secret, cluster, namespace, name } => {
            let target = if cluster {
                keyward::consents_cli::Target::Cluster { namespace, name }
            } else {
                match (hub, admin_client_id, admin_client_secret) {
                    (Some(hub), Some(id), Some(secret)) => keyward::consents_cli::Target::Hub { hub, id, secret },
                    _ => {
                        eprintln!("error: give --cluster, or --hub with --admin-client-id and --admin-client-secret");
                        return ExitCode::from(2);
                    }
                }
            };
            let action = match action {
                ConsentAction::List { sub, client, output } => {
                    keyward::consents_cli::Action::List { sub, client, json: matches!(output, OutputFormat::Json) }
                }
                ConsentAction::Revoke { sub, client, resource } => {
                    keyward::consents_cli::Action::Revoke { sub, client, resource }
                }
            };
            runtime(Some(1))
                .and_then(|rt| rt.block_on(keyward::consents_cli::run(target, action, &mut std::io::stdout())))
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Check { manifests, namespace, target } => {
            check::run(&CheckOptions { manifests, namespace, runtime: target.into() }, &mut std::io::stdout())
                .map(|ok| if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Explain {
            client,
            resource,
            scope,
            grant,
            subject,
            roles,
            tenant,
            time,
            manifests,
            namespace,
            target,
            kubeconfig,
            output,
        } => explain(
            client,
            resource,
            scope,
            &grant,
            subject,
            roles,
            tenant,
            time,
            match manifests {
                Some(manifests) => ExplainSource::Folder { manifests, namespace, runtime: target.into() },
                None => ExplainSource::Cluster { kubeconfig },
            },
            output,
        ),
        Command::Run {
            issuer,
            listen,
            admin_listen,
            namespace,
            name,
            identity,
            watch_namespaces,
            lease_duration_seconds,
            hub,
        } => {
            let fetch = match hub.fetch.policy() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(2);
                }
            };
            let registration = match hub.registration.limits() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("{e:#}");
                    return ExitCode::from(2);
                }
            };
            let (namespace, identity) = match (namespace.or_else(in_cluster_namespace), identity) {
                (Some(ns), identity) => (ns, identity.unwrap_or_else(default_identity)),
                (None, _) => {
                    tracing::error!(
                        "no namespace for the hub's own objects: pass --namespace (or POD_NAMESPACE) outside a pod"
                    );
                    return ExitCode::from(2);
                }
            };
            let watch_namespaces: Vec<String> = watch_namespaces.into_iter().filter(|n| !n.is_empty()).collect();
            if (hub.registration.client_registration == RegistrationMode::Open
                || hub.registration.metadata_documents == RegistrationMode::Open)
                && !watch_namespaces.is_empty()
                && !watch_namespaces.contains(&namespace)
            {
                tracing::error!(
                    "registered clients and those of metadata documents are kept in the hub's namespace ({namespace}), which --watch-namespaces leaves out: add it, or pass --client-registration off --metadata-documents off"
                );
                return ExitCode::from(2);
            }
            let opts = RunOptions {
                issuer,
                listen,
                admin_listen,
                namespace,
                name,
                identity,
                watch_namespaces,
                key_algorithm: hub.key_algorithm.into(),
                key_rotation: hub.key_rotation(),
                lifetimes: hub.lifetimes(),
                lease_seconds: lease_duration_seconds,
                store_gc_interval: Duration::from_secs(30),
                fetch,
                listener: hub.listener.limits(),
                audit: hub.audit(),
                templates: hub.templates.clone(),
                registration,
            };
            runtime(hub.workers)
                .and_then(|rt| {
                    rt.block_on(async {
                        let clients = controller::Clients::from_config(kube::Config::infer().await?)?;
                        let mut running = controller::start(clients, opts, keyward::server::system_clock()).await?;
                        tokio::select! {
                            r = running.wait() => r,
                            _ = shutdown() => {
                                tracing::info!("shutting down");
                                running.shutdown().await;
                                Ok(())
                            }
                        }
                    })
                })
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Serve { manifests, listen, state_dir, issuer, namespace, hub } => {
            let fetch = match hub.fetch.policy() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(2);
                }
            };
            let registration = match hub.registration.limits() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("{e:#}");
                    return ExitCode::from(2);
                }
            };
            let opts = ServeOptions {
                manifests,
                listen,
                state_dir,
                issuer,
                namespace,
                key_algorithm: hub.key_algorithm.into(),
                key_rotation: hub.key_rotation(),
                poll_interval: Duration::from_secs(1),
                lifetimes: hub.lifetimes(),
                fetch,
                listener: hub.listener.limits(),
                audit: hub.audit(),
                templates: hub.templates.clone(),
                registration,
            };
            run_serve(opts, hub.workers).map(|()| ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|e| {
        tracing::error!("{e:#}");
        ExitCode::from(2)
    })
}

impl From<KeyAlg> for Algorithm {
    fn from(k: KeyAlg) -> Algorithm {
        match k {
            KeyAlg::Es256 => Algorithm::ES256,
            KeyAlg::EdDsa => Algorithm::EdDSA,
            KeyAlg::Rs256 => Algorithm::RS256,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn explain(
    client: String,
    resource: Option<String>,
    scope: Option<String>,
    grant: &str,
    subject: Option<String>,
    roles: Vec<String>,
    tenant: Option<String>,
    time: Option<u64>,
    source: ExplainSource,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let grant = Query::parse_grant(grant).map_err(anyhow::Error::msg)?;
    let now = time.map_or_else(|| keyward::server::system_clock()(), UnixTime);
    let query = Query {
        client,
        resource,
        scope,
        grant,
        subject,
        roles: Query::split_roles(roles.iter().map(String::as_str)),
        tenant,
        now,
    };
    let output = match output {
        OutputFormat::Text => ExplainOutput::Text,
        OutputFormat::Json => ExplainOutput::Json,
    };
    let opts = ExplainOptions { source, query, output };
    let granted = runtime(Some(1))?.block_on(keyward::explain::run(&opts, &mut std::io::stdout()))?;
    Ok(if granted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        rt.worker_threads(n.max(1));
    }
    Ok(rt.enable_all().build()?)
}

fn run_serve(opts: ServeOptions, workers: Option<usize>) -> anyhow::Result<()> {
    runtime(workers)?.block_on(async {
        let hub = serve::start(opts, keyward::server::system_clock()).await?;
        // Nothing in a running hub ends on its own; a signal ends it.
        shutdown().await;
        tracing::info!("shutting down");
        hub.shutdown().await;
        Ok(())
    })
}

/// The namespace a pod runs in, from its service-account mount.
fn in_cluster_namespace() -> Option<String> {
    let ns = std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()?;
    Some(ns.trim().to_owned()).filter(|ns| !ns.is_empty())
}

/// The host name (in a pod, the pod's name) with the process id, so two
/// processes on one machine never share an identity and both lead.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "keyward".into());
    format!("{host}-{}", std::process::id())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// mimalloc instead of glibc's malloc: with hundreds of thousands of live
/// session records on the heap, glibc's `_int_malloc` and `free` became a
/// quarter of a refresh's CPU (perf, docs/benchmarks.md); mimalloc's
/// size-segregated pages keep allocation flat as the heap grows.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
