//! `airlock serve`: open (or initialise) the data folder and serve HTTP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::auth::{Authenticator, TokenSigner};
use crate::registry::{self, Registry, RegistrySettings, RootPassword};
use crate::server::{self, AppState, ServerSettings};
use crate::store::Store;

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
    /// Lifetime of login tokens, in hours.
    #[arg(long, default_value_t = 10, env = "AIRLOCK_TOKEN_HOURS")]
    pub token_hours: u64,
    /// Public URL of this server when behind a reverse proxy (for absolute links).
    #[arg(long, env = "AIRLOCK_OUTSIDE_URL")]
    pub outside_url: Option<String>,
    /// Let anyone create a user account (devpi's default). Off: only root can.
    #[arg(long, env = "AIRLOCK_OPEN_REGISTRATION")]
    pub open_registration: bool,
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let store = Store::open(&args.data)
        .with_context(|| format!("opening data folder {}", args.data.display()))?;
    let signer = TokenSigner::load_or_create(&args.data).context("loading the token secret")?;
    let auth = Arc::new(Authenticator::new(
        signer,
        Duration::from_secs(args.token_hours * 3600),
    ));
    let settings = RegistrySettings {
        max_upload_bytes: args.max_upload_mb * 1024 * 1024,
        open_registration: args.open_registration,
    };
    let reg = Registry::new(store, auth, settings).await?;
    let root_pw = match std::env::var("AIRLOCK_ROOT_PASSWORD") {
        Ok(p) => RootPassword::Given(p),
        Err(_) => RootPassword::Generate,
    };
    if let Some(pw) = registry::bootstrap(&reg, root_pw).await? {
        println!("airlock: created user 'root' with password: {pw}");
        println!(
            "airlock: (shown once; set AIRLOCK_ROOT_PASSWORD before the first start to choose it)"
        );
    }

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let state = AppState {
        registry: Arc::clone(&reg),
        settings: Arc::new(ServerSettings {
            listen: addr.to_string(),
            outside_url: args.outside_url.clone(),
            tls: false,
        }),
    };
    println!("airlock listening on http://{addr}");
    tracing::info!(%addr, data = %args.data.display(), "airlock serving");
    server::serve_plain(listener, server::router(state), shutdown_signal()).await?;
    tracing::info!("shutting down: closing the database");
    reg.store.db.close()?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
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
