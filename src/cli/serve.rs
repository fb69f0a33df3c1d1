//! `airlock serve`: open (or initialise) the data folder and serve HTTP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::auth::{Authenticator, TokenSigner};
use crate::registry::{self, Registry, RegistrySettings, RootPassword, TypoMode, TypoSettings};
use crate::server::{self, AppState, ServerSettings};
use crate::store::Store;
use crate::tls::{ClientAuth, IdentityRule, TlsSettings};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3141", env = "AIRLOCK_LISTEN")]
    pub listen: String,
    /// Data folder (created and initialised on first start).
    #[arg(long, default_value = "./airlock-data", env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "pretty", env = "AIRLOCK_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Largest accepted distribution file, in MiB.
    #[arg(long, default_value_t = 100, env = "AIRLOCK_MAX_UPLOAD_MB")]
    pub max_upload_mb: u64,
    /// Largest size, in MiB, that all members of an uploaded or mirrored
    /// distribution may expand to.
    #[arg(long, default_value_t = 1024, env = "AIRLOCK_MAX_EXPANDED_MB")]
    pub max_expanded_mb: u64,
    /// Largest compression ratio (expanded:compressed) of a distribution,
    /// per member and in total (members expanding to at most 4 MiB exempt).
    #[arg(long, default_value_t = 50, env = "AIRLOCK_MAX_COMPRESSION_RATIO",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_compression_ratio: u64,
    /// Memory for rendered simple pages, in MiB (0 = render every request).
    #[arg(long, default_value_t = 64, env = "AIRLOCK_PAGE_CACHE_MB")]
    pub page_cache_mb: u64,
    /// Lifetime of login tokens, in hours.
    #[arg(long, default_value_t = 10, env = "AIRLOCK_TOKEN_HOURS")]
    pub token_hours: u64,
    /// Public URL of this server when behind a reverse proxy (for absolute links).
    #[arg(long, env = "AIRLOCK_OUTSIDE_URL")]
    pub outside_url: Option<String>,
    /// Let anyone create a user account (devpi's default). Off: only root can.
    #[arg(long, env = "AIRLOCK_OPEN_REGISTRATION")]
    pub open_registration: bool,
    /// `Authorization: Basic` belongs to a front proxy (devpi-client's
    /// `use --basic-auth`), not to airlock: it is not checked. Clients then
    /// authenticate with login tokens (X-Devpi-Auth) or certificates only;
    /// twine and pip passwords stop working.
    #[arg(long, env = "AIRLOCK_PROXY_BASIC_AUTH")]
    pub proxy_basic_auth: bool,
    /// Policy folder (*.toml). Default: ./policies if it exists, else the
    /// built-in copy of policies/default.toml.
    #[arg(long, env = "AIRLOCK_POLICIES")]
    pub policies: Option<PathBuf>,
    /// What happens to project names that look like typos of popular or private ones.
    #[arg(long, value_enum, default_value = "block", env = "AIRLOCK_TYPO_MODE")]
    pub typo_mode: TypoMode,
    /// How many of the most popular PyPI projects the typosquat check protects.
    #[arg(long, default_value_t = 5000, env = "AIRLOCK_TYPO_PROTECT_TOP")]
    pub typo_protect_top: usize,
    /// Before refusing the install of a *weak* look-alike (an affix, a
    /// plural, an unrelated letter), ask upstream's JSON API about it and
    /// let it through when it is an established project (5+ releases over
    /// a year or more, not claiming the popular project's repository).
    /// Off: weak look-alikes are refused on the name alone, and upstream
    /// is never asked about a suspicious name.
    #[arg(long, env = "AIRLOCK_TYPO_EVIDENCE")]
    pub typo_evidence: bool,
    /// Also append every audit log entry to this file as one JSON line,
    /// after its transaction commits (best effort; the database is the record).
    #[arg(long, env = "AIRLOCK_AUDIT_JSONL")]
    pub audit_jsonl: Option<PathBuf>,
    /// Serve Prometheus metrics on this separate plain-HTTP address
    /// (`/metrics`), without authentication: bind it where only the
    /// scraper reaches (docs/metrics.md).
    #[arg(long, env = "AIRLOCK_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// File holding a bearer token that opens `/+metrics` on the main
    /// listener. Without it `/+metrics` there is 404.
    #[arg(long, env = "AIRLOCK_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Let the front proxy send stored files: a download airlock has
    /// authorised is answered with an empty body and
    /// `X-Accel-Redirect: PREFIX/aa/bb/<sha256>` for nginx's `internal`
    /// location over `<data>/blobs/` (`airlock gen-config nginx`, e.g.
    /// `/+airlock-internal`). Only behind that nginx: clients reaching
    /// airlock directly get empty files.
    #[arg(long, env = "AIRLOCK_ACCEL_REDIRECT", value_name = "PREFIX")]
    pub accel_redirect: Option<crate::deploy::AccelPrefix>,
    /// Where the metadata is kept: `local` (`<data>/airlock.sqlite3`, the
    /// default) or a PostgreSQL database shared by several nodes,
    /// `postgres://USER@HOST:PORT/DATABASE`. The password comes from the
    /// environment only (AIRLOCK_DATABASE_PASSWORD, or a file named by
    /// AIRLOCK_DATABASE_PASSWORD_FILE); see docs/scale-out.md.
    #[arg(
        long,
        env = "AIRLOCK_DATABASE",
        default_value = "local",
        value_name = "LOCATION"
    )]
    pub database: crate::store::DatabaseLocation,
    /// Where file bytes are kept: `local` (`<data>/blobs/`, the default) or
    /// an S3-compatible bucket, `s3://BUCKET/PREFIX?endpoint=URL&region=R`
    /// (optional `&timeout=SECS` per request). Credentials come from the
    /// environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_ALLOW_HTTP for an http:// endpoint); see docs/scale-out.md.
    #[arg(
        long,
        env = "AIRLOCK_BLOBS",
        default_value = "local",
        value_name = "LOCATION"
    )]
    pub blobs: crate::store::BlobLocation,
    /// With `--blobs s3://`: answer an authorised download with a redirect
    /// to a URL presigned for this many seconds, so the bytes go from the
    /// bucket to the client without passing through the node (access
    /// checks, counting and logging happen first, as for any download).
    /// airlock then does not verify what the bucket sends: pip and uv check
    /// it against the sha256 of the page's link. Off (0): every download is
    /// streamed through the node and verified.
    #[arg(
        long,
        env = "AIRLOCK_BLOBS_REDIRECT",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    pub blobs_redirect: u64,
    /// With `--blobs s3://`: keep up to this many MiB of small files
    /// (up to 1 MiB each) in memory once read from the bucket and verified,
    /// so repeated downloads do not go to the bucket. Files never change,
    /// so a copy is never stale. 0 turns it off.
    #[arg(
        long,
        env = "AIRLOCK_BLOB_CACHE_MB",
        default_value_t = 256,
        value_name = "MIB"
    )]
    pub blob_cache_mb: u64,
    /// With `--database postgres://`: `strict` (every request waits for a
    /// read of the change serial, shared by the requests waiting at the
    /// time, so everything acknowledged on any node before it is in its
    /// answer) or `notify` (answered at once; other nodes' writes arrive
    /// with PostgreSQL's notification, normally within a millisecond of
    /// their commit). See docs/scale-out.md.
    #[arg(
        long,
        env = "AIRLOCK_CLUSTER_SYNC",
        value_enum,
        default_value_t = crate::registry::ClusterSync::Strict,
        value_name = "MODE"
    )]
    pub cluster_sync: crate::registry::ClusterSync,
    /// Connection limits of the listener (HTTP and HTTPS alike).
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// Mirror indexes: upstream, offline mode, timeouts (src/mirror/settings.rs).
    #[command(flatten)]
    pub mirror: crate::mirror::MirrorArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Webhook delivery: target exceptions, retries, timeouts.
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    /// Front-proxy authentication (docs/proxy-sso.md).
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Front-proxy authentication (`crate::auth::proxy`, docs/proxy-sso.md).
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Believe the user and group headers of a trusted front proxy (single
    /// sign-on). The proxy is recognised by --proxy-socket or
    /// --trusted-proxy-cert-sha256 (one is needed); the headers are refused
    /// on every other connection.
    #[arg(long, env = "AIRLOCK_TRUSTED_PROXY")]
    pub trusted_proxy: bool,
    /// Also listen on this unix socket (mode 0660) for the front proxy:
    /// every connection on it is the proxy's.
    #[arg(long, env = "AIRLOCK_PROXY_SOCKET", requires = "trusted_proxy")]
    pub proxy_socket: Option<PathBuf>,
    /// SHA-256 fingerprint (64 hex digits, colons allowed) of the client
    /// certificate the proxy presents on the HTTPS listener (repeatable).
    #[arg(
        long = "trusted-proxy-cert-sha256",
        env = "AIRLOCK_TRUSTED_PROXY_CERT_SHA256",
        value_delimiter = ',',
        requires = "trusted_proxy"
    )]
    pub trusted_proxy_cert_sha256: Vec<String>,
    /// The header naming the user the proxy authenticated.
    #[arg(
        long,
        default_value = "X-Remote-User",
        env = "AIRLOCK_PROXY_USER_HEADER"
    )]
    pub proxy_user_header: String,
    /// The header listing the user's groups, comma-separated.
    #[arg(
        long,
        default_value = "X-Remote-Groups",
        env = "AIRLOCK_PROXY_GROUPS_HEADER"
    )]
    pub proxy_groups_header: String,
    /// The header with the address of the proxy's client (for audit
    /// entries); an empty value records none.
    #[arg(
        long,
        default_value = "X-Real-IP",
        env = "AIRLOCK_PROXY_CLIENT_IP_HEADER"
    )]
    pub proxy_client_ip_header: String,
    /// Create a user the proxy names that does not exist yet (no password;
    /// audited). Off: such requests are refused (403).
    #[arg(long, env = "AIRLOCK_PROXY_CREATE_USERS", requires = "trusted_proxy")]
    pub proxy_create_users: bool,
}

impl ProxyArgs {
    /// The settings, or `None` when --trusted-proxy is off. `tls`: whether
    /// the main listener speaks HTTPS with client certificates.
    pub fn settings(
        &self,
        client_certs: bool,
    ) -> anyhow::Result<Option<crate::auth::proxy::ProxySettings>> {
        use axum::http::HeaderName;
        if !self.trusted_proxy {
            return Ok(None);
        }
        if self.proxy_socket.is_none() && self.trusted_proxy_cert_sha256.is_empty() {
            anyhow::bail!(
                "--trusted-proxy needs a way to recognise the proxy: --proxy-socket PATH \
                 and/or --trusted-proxy-cert-sha256 FINGERPRINT"
            );
        }
        if !self.trusted_proxy_cert_sha256.is_empty() && !client_certs {
            anyhow::bail!(
                "--trusted-proxy-cert-sha256 needs HTTPS with client certificates: give \
                 --tls-cert, --tls-key and --client-ca (the proxy's certificate must chain to it)"
            );
        }
        let header = |flag: &str, v: &str| {
            HeaderName::from_bytes(v.trim().as_bytes())
                .map_err(|_| anyhow::anyhow!("{flag}: {v:?} is not a header name"))
        };
        let user_header = header("--proxy-user-header", &self.proxy_user_header)?;
        let groups_header = header("--proxy-groups-header", &self.proxy_groups_header)?;
        if user_header == groups_header {
            anyhow::bail!("--proxy-user-header and --proxy-groups-header must differ");
        }
        let client_ip_header = match self.proxy_client_ip_header.trim() {
            "" => None,
            v => Some(header("--proxy-client-ip-header", v)?),
        };
        let trusted_cert_fingerprints = self
            .trusted_proxy_cert_sha256
            .iter()
            .map(|f| crate::auth::proxy::parse_fingerprint(f).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(crate::auth::proxy::ProxySettings {
            user_header,
            groups_header,
            client_ip_header,
            trusted_cert_fingerprints,
            create_users: self.proxy_create_users,
        }))
    }
}

/// Bind the proxy's unix socket at `path` with mode 0660: bound under a
/// temporary name, its mode set, then renamed into place, so there is no
/// moment at which it is reachable with looser permissions. A stale socket
/// from an earlier run is replaced; any other file there is an error.
fn bind_proxy_socket(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?,
        Ok(_) => anyhow::bail!(
            "--proxy-socket {}: a file that is not a socket is in the way",
            path.display()
        ),
        Err(_) => {}
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = tokio::net::UnixListener::bind(&tmp)
        .with_context(|| format!("listening on the unix socket {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("moving the socket into place at {}", path.display()))?;
    Ok(listener)
}

/// Webhooks (`crate::webhooks`): which private targets are allowed, and
/// how deliveries are retried.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Allow webhooks to this host (`HOST` or `HOST:PORT`) even though it
    /// is, or resolves to, a loopback, private or link-local address
    /// (repeatable). Without it such targets are refused.
    #[arg(
        long = "webhook-allow-host",
        env = "AIRLOCK_WEBHOOK_ALLOW_HOST",
        value_delimiter = ','
    )]
    pub webhook_allow_host: Vec<crate::webhooks::AllowedHost>,
    /// Allow webhooks to every private and loopback address (a closed
    /// network where every receiver is trusted; prefer --webhook-allow-host).
    #[arg(long, env = "AIRLOCK_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Milliseconds before the first retry of a failed delivery; each
    /// further retry waits twice as long (at most an hour).
    #[arg(long, default_value_t = 10_000, env = "AIRLOCK_WEBHOOK_RETRY_BASE_MS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_retry_base_ms: u64,
    /// Attempts per event before it is given up (and logged as failed).
    #[arg(long, default_value_t = 12, env = "AIRLOCK_WEBHOOK_MAX_ATTEMPTS",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,
    /// Seconds one delivery attempt may take (connecting: at most 5).
    #[arg(long, default_value_t = 10, env = "AIRLOCK_WEBHOOK_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub webhook_timeout: u64,
}

impl WebhookArgs {
    pub fn settings(&self) -> crate::webhooks::WebhookSettings {
        crate::webhooks::WebhookSettings {
            rules: crate::webhooks::TargetRules {
                allow_private: self.webhook_allow_private,
                allow_hosts: self.webhook_allow_host.clone(),
            },
            retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            retry_max: Duration::from_secs(3600),
            max_attempts: self.webhook_max_attempts,
            timeout: Duration::from_secs(self.webhook_timeout),
        }
    }
}

/// How long connections may take and how many there may be
/// (`crate::listener`).
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Seconds a client has to send a complete request head (from its first
    /// byte; from connecting, for the first request).
    #[arg(long, default_value_t = 15, env = "AIRLOCK_HEADER_READ_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout: u64,
    /// Seconds a keep-alive connection may sit idle between requests.
    #[arg(long, default_value_t = 60, env = "AIRLOCK_IDLE_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Longest pause, in seconds, while a request body (an upload) is
    /// received or a response is written.
    #[arg(long, default_value_t = 30, env = "AIRLOCK_BODY_TIMEOUT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Most connections open at once.
    #[arg(long, default_value_t = 1024, env = "AIRLOCK_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Most connections open at once from one client IP address.
    #[arg(long, default_value_t = 256, env = "AIRLOCK_MAX_CONNECTIONS_PER_PEER",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_peer: u64,
}

impl ConnectionArgs {
    pub fn limits(&self) -> crate::listener::ConnLimits {
        crate::listener::ConnLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_connections_per_peer: usize::try_from(self.max_connections_per_peer)
                .unwrap_or(usize::MAX),
        }
    }
}

/// HTTPS and client certificates (all optional: without --tls-cert the
/// server speaks plain HTTP, meant for loopback use).
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM certificate chain of the server (enables HTTPS).
    #[arg(long, env = "AIRLOCK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the server certificate.
    #[arg(long, env = "AIRLOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM file(s) of the CA(s) client certificates must chain to (repeatable).
    #[arg(long = "client-ca", env = "AIRLOCK_CLIENT_CA", value_delimiter = ',')]
    pub client_ca: Vec<PathBuf>,
    /// Whether clients must present a certificate.
    #[arg(long, value_enum, default_value = "none", env = "AIRLOCK_CLIENT_AUTH")]
    pub client_auth: ClientAuth,
    /// Certificate revocation list(s), re-read when the file changes or on SIGHUP.
    #[arg(long = "crl", env = "AIRLOCK_CRL", value_delimiter = ',')]
    pub crl: Vec<PathBuf>,
    /// Which certificate field names the airlock user (pinned fingerprints always win).
    #[arg(
        long,
        value_enum,
        default_value = "subject-cn",
        env = "AIRLOCK_CERT_IDENTITY"
    )]
    pub cert_identity: IdentityRule,
}

/// A password framed so it stands out from build output and log lines.
pub fn password_block(what: &str, password: &str, note: &str) -> String {
    let rule = "=".repeat(72);
    let mut out = format!("\n{rule}\n  airlock: {what}\n\n      password: {password}\n\n");
    for line in note.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&rule);
    out.push_str("\n\n");
    out
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    if args.blobs_redirect > 0 && matches!(args.blobs, crate::store::BlobLocation::Local) {
        anyhow::bail!(
            "--blobs-redirect needs --blobs s3:// (it redirects downloads to the bucket)"
        );
    }
    if args.blobs_redirect > 7 * 24 * 3600 {
        anyhow::bail!("--blobs-redirect: at most 604800 seconds (7 days, S3's limit)");
    }
    if !matches!(args.blobs, crate::store::BlobLocation::Local) && args.accel_redirect.is_some() {
        anyhow::bail!(
            "--accel-redirect is not yet supported with --blobs s3:// (nginx sends files from \
             local disk); see docs/scale-out.md"
        );
    }
    // opening may connect to PostgreSQL and migrate it: blocking work
    let store = {
        let (data, database, blobs) =
            (args.data.clone(), args.database.clone(), args.blobs.clone());
        tokio::task::spawn_blocking(move || Store::open_with(&data, &database, &blobs))
            .await
            .context("opening the data folder")?
            .with_context(|| format!("opening data folder {}", args.data.display()))?
    };
    if store
        .blobs
        .enable_read_cache(args.blob_cache_mb.saturating_mul(1 << 20))
    {
        tracing::info!(
            mib = args.blob_cache_mb,
            "small files read from object storage are kept in memory once verified"
        );
    }
    // the locations carry no secret (credentials come from the environment)
    tracing::info!(database = %args.database, blobs = %args.blobs, "storage");
    let signer = if store.db.is_postgres() {
        shared_token_signer(&store).await?
    } else {
        TokenSigner::load_or_create(&args.data).context("loading the token secret")?
    };
    let auth = Arc::new(Authenticator::new(
        signer,
        Duration::from_secs(args.token_hours * 3600),
    ));
    let settings = RegistrySettings {
        max_upload_bytes: args.max_upload_mb * 1024 * 1024,
        open_registration: args.open_registration,
        typo: TypoSettings {
            mode: args.typo_mode,
            protect_top: args.typo_protect_top,
            evidence: args.typo_evidence,
        },
        mirror: args.mirror.settings()?,
        inspect_limits: crate::dist::Limits {
            max_decompressed: args.max_expanded_mb.saturating_mul(1024 * 1024),
            max_ratio: args.max_compression_ratio,
            ..crate::dist::Limits::default()
        },
        webhooks: args.webhooks.settings(),
    };
    let reg = Registry::new(store, auth, settings).await?;
    reg.warm_typo_detector();
    let audit_export = match &args.audit_jsonl {
        Some(path) => {
            let export = crate::audit::jsonl::JsonlExport::open(Arc::clone(&reg.store.db), path)
                .with_context(|| format!("opening the audit export {}", path.display()))?;
            export.spawn();
            Some(export)
        }
        None => None,
    };
    let root_pw = match std::env::var("AIRLOCK_ROOT_PASSWORD") {
        Ok(p) => RootPassword::Given(p),
        Err(_) => RootPassword::Generate,
    };
    if let Some(pw) = registry::bootstrap(&reg, root_pw).await? {
        print!(
            "{}",
            password_block(
                "created user 'root'",
                &pw,
                "shown once. Set AIRLOCK_ROOT_PASSWORD before the FIRST start to choose it;\n\
                 later, reset it with `airlock user passwd root --data DIR` (server stopped)."
            )
        );
    }
    let policy_dir = args.policies.clone().or_else(|| {
        let local = PathBuf::from("policies");
        local.is_dir().then_some(local)
    });
    let policies = registry::load_policies(policy_dir.as_deref())?;
    reg.apply_policies(policies)
        .await
        .context("applying the policies")?;
    tracing::info!(
        policies = %policy_dir
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in default".into()),
        "policies loaded"
    );

    // Build the TLS configuration before binding, so a bad certificate is
    // reported without ever listening.
    let tls = match (&args.tls.tls_cert, &args.tls.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(&TlsSettings {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls.client_ca.clone(),
            client_auth: args.tls.client_auth,
            crl: args.tls.crl.clone(),
        })?),
        _ => {
            if !args.tls.client_ca.is_empty() || args.tls.client_auth != ClientAuth::None {
                anyhow::bail!(
                    "--client-ca and --client-auth need HTTPS: give --tls-cert and --tls-key too"
                );
            }
            None
        }
    };

    // Events committed before a crash are still in the outbox: the worker
    // delivers them now.
    crate::webhooks::worker::spawn(Arc::clone(&reg.store.db), reg.settings.webhooks.clone());
    // Mirror cache retention (--mirror-cache-max-gb / --mirror-cache-max-age).
    let retention = reg.settings.mirror.retention;
    if retention.is_active() {
        crate::maintenance::gc::spawn_periodic(
            Arc::clone(&reg.store.db),
            Arc::clone(&reg.store.blobs),
            retention,
            Arc::new(reg.mirror.in_use()),
            Arc::clone(reg.mirror.cache_use()),
        );
    }

    let metrics_token = match &args.metrics_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the metrics token {}", path.display()))?;
            Some(
                server::metrics::MetricsToken::new(&text)
                    .map_err(|e| anyhow::anyhow!("{e}: {}", path.display()))?,
            )
        }
        None => None,
    };
    let metrics_listener = match &args.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?,
        ),
        None => None,
    };
    let proxy_settings = args
        .proxy
        .settings(tls.is_some() && !args.tls.client_ca.is_empty())?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let proxy_socket = match &args.proxy.proxy_socket {
        Some(path) => Some((bind_proxy_socket(path)?, path.clone())),
        None => None,
    };
    let state = AppState {
        registry: Arc::clone(&reg),
        pages: Arc::new(crate::simple::PageCache::new(
            args.page_cache_mb * 1024 * 1024,
        )),
        web_pages: Arc::new(crate::web::BodyCache::new(args.page_cache_mb * 1024 * 1024)),
        settings: Arc::new(ServerSettings {
            listen: addr.to_string(),
            outside_url: args.outside_url.clone(),
            tls: tls.is_some(),
            cert_identity: args.tls.cert_identity,
            proxy_basic_auth: args.proxy_basic_auth,
            metrics_token,
            accel_redirect: args.accel_redirect.clone(),
            blob_redirect: (args.blobs_redirect > 0)
                .then(|| Duration::from_secs(args.blobs_redirect)),
            cluster_sync: args.cluster_sync,
            proxy: proxy_settings,
        }),
    };
    if let Some(ml) = metrics_listener {
        let maddr = ml.local_addr()?;
        if !maddr.ip().is_loopback() {
            tracing::warn!(addr = %maddr, "metrics listener on a non-loopback address: \
                anyone who reaches it sees the traffic shape; firewall it to the scraper");
        }
        println!("airlock metrics on http://{maddr}");
        let router = server::metrics::listener_router(state.clone());
        let limits = args.connections.limits();
        tokio::spawn(async move {
            if let Err(e) = server::serve_plain(ml, router, shutdown_signal(), limits).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    if let Some(prefix) = &args.accel_redirect {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "--accel-redirect on a non-loopback address: airlock must be reachable \
                only through the nginx that serves {prefix}/ (clients reaching it directly get empty files)");
        }
        if tls.is_some() {
            tracing::warn!(
                "--accel-redirect with --tls-cert: only an nginx that terminates TLS and \
                proxies to https:// sees the X-Accel-Redirect header (a TLS pass-through does not)"
            );
        }
        #[cfg(unix)]
        {
            let changed = reg
                .store
                .share_blobs_with_group()
                .context("letting the front proxy's group read the blobs")?;
            tracing::info!(%prefix, blob_modes_changed = changed,
                "file bytes are sent by the front proxy after airlock authorised them; \
                 blobs/ is readable by this process's group, the rest of the data folder is not");
        }
    }
    let app = server::router(state);
    let mut proxy_task = None;
    if let Some((socket, path)) = proxy_socket {
        println!(
            "airlock listening for the front proxy on unix:{}",
            path.display()
        );
        let app = app.clone();
        let limits = args.connections.limits();
        proxy_task = Some(tokio::spawn(async move {
            if let Err(e) = server::serve_unix(socket, app, shutdown_signal(), limits).await {
                tracing::error!(error = %e, "proxy socket listener failed");
            }
            let _ = std::fs::remove_file(&path);
        }));
    }
    let shutdown = shutdown_signal();
    spawn_sighup_reload(Reload {
        registry: Arc::clone(&reg),
        policy_dir: policy_dir.clone(),
        crl: tls.as_ref().and_then(|t| t.crl_reloader.clone()),
    });
    tracing::info!(%addr, data = %args.data.display(), "airlock serving");
    match tls {
        Some(tls) => {
            if let Some(reloader) = &tls.crl_reloader {
                crate::tls::spawn_crl_watcher(Arc::clone(reloader), Duration::from_secs(5));
            }
            println!("airlock listening on https://{addr}");
            let options = crate::tls::ServeOptions {
                limits: args.connections.limits(),
                ..crate::tls::ServeOptions::default()
            };
            crate::tls::serve_tls_with(listener, tls.rustls, app, shutdown, options).await?;
        }
        None => {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "serving plain HTTP on a non-loopback address: passwords and tokens \
                    travel in clear text; use --tls-cert/--tls-key or a TLS-terminating proxy");
            }
            println!("airlock listening on http://{addr}");
            server::serve_plain(listener, app, shutdown, args.connections.limits()).await?;
        }
    }
    // the proxy's in-flight requests finish (serve_unix drains for at most
    // 30 s) before the database closes
    if let Some(task) = proxy_task {
        let _ = task.await;
    }
    if let Some(export) = audit_export {
        let done = tokio::task::spawn_blocking(move || export.export_new()).await;
        if let Ok(Err(e)) = done {
            tracing::error!(error = %e, "final append to the audit JSON-lines export failed");
        }
    }
    reg.mirror.cache_use().flush().await;
    tracing::info!("shutting down: closing the database");
    reg.store.db.close()?;
    Ok(ExitCode::SUCCESS)
}

/// What SIGHUP re-reads.
struct Reload {
    registry: Arc<Registry>,
    /// The policy folder (`None`: the built-in default, nothing to re-read).
    policy_dir: Option<PathBuf>,
    crl: Option<Arc<crate::tls::CrlReloader>>,
}

impl Reload {
    /// Re-read the policy folder and the CRLs. Each is all or nothing: a
    /// policy file that does not parse, or policies that would break the
    /// production invariant, leave the policies in force unchanged.
    async fn run(&self) {
        if let Some(dir) = &self.policy_dir {
            let applied = match registry::load_policies(Some(dir)) {
                Ok(p) => self
                    .registry
                    .reload_policies(p)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::Error::from(e)),
            };
            match applied {
                Ok(()) => tracing::info!(policies = %dir.display(), "SIGHUP: policies reloaded"),
                Err(e) => tracing::error!(policies = %dir.display(), error = %format!("{e:#}"),
                    "SIGHUP: policy reload refused; the previous policies stay in force"),
            }
        }
        if let Some(crl) = &self.crl {
            match crl.reload() {
                Ok(()) => tracing::info!("SIGHUP: certificate revocation lists reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: CRL reload failed; keeping the previous lists")
                }
            }
        }
    }
}

/// Re-read policies and CRLs on SIGHUP (`systemctl reload airlock`). The
/// handler is installed when this is called, before the server listens, so
/// an early SIGHUP never kills the process.
fn spawn_sighup_reload(reload: Reload) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("SIGHUP handler not installed: reload by restarting");
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                reload.run().await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reload;
}

/// Resolves on SIGTERM or ctrl-c. The SIGTERM handler is installed when
/// this is called (not when the future is first polled), so a signal that
/// arrives just after the "listening" line still shuts down gracefully.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}

/// The token signer of a cluster: its key in the shared database, made by
/// the first node that starts.
async fn shared_token_signer(store: &Store) -> anyhow::Result<TokenSigner> {
    use ring::rand::SecureRandom;
    let mut fresh = vec![0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut fresh)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let secret = store
        .db
        .write_log(move |tx| crate::store::cluster_secrets::get_or_insert(tx, "token", &fresh))
        .await
        .context("loading the token secret from the database")?;
    anyhow::ensure!(
        secret.len() >= 32,
        "the database's token secret is shorter than 32 bytes"
    );
    Ok(TokenSigner::from_secret(&secret))
}
