//! Client settings: flags > environment > the remembered config file.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

/// How to reach and authenticate to the server (flags shared by every
/// client command).
#[derive(Debug, Clone, Args, Default)]
pub struct ConnectArgs {
    /// Server URL, e.g. https://pkg.acme.internal:3141 (default: the one from `airlock use`).
    #[arg(long, env = "AIRLOCK_URL", global = true)]
    pub url: Option<String>,
    /// User name (default: the one from `airlock login`).
    #[arg(long, env = "AIRLOCK_USER", global = true)]
    pub user: Option<String>,
    /// Password (instead of the remembered login token).
    #[arg(long, env = "AIRLOCK_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
    /// PEM CA bundle to trust for the server's certificate.
    #[arg(long, env = "AIRLOCK_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// PEM client certificate (may also contain the key) for mutual TLS.
    #[arg(long, env = "AIRLOCK_CLIENT_CERT", global = true)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate, if not in the same file.
    #[arg(long, env = "AIRLOCK_CLIENT_KEY", global = true)]
    pub client_key: Option<PathBuf>,
}

/// What `airlock use` and `airlock login` remember.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientConfig {
    pub url: Option<String>,
    pub user: Option<String>,
    pub token: Option<String>,
    pub ca: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl ClientConfig {
    /// `$AIRLOCK_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/airlock/client.json`,
    /// else `~/.config/airlock/client.json`.
    pub fn path() -> PathBuf {
        if let Some(p) = std::env::var_os("AIRLOCK_CLIENT_CONFIG") {
            return PathBuf::from(p);
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("airlock").join("client.json")
    }

    pub fn load() -> anyhow::Result<Self> {
        let p = Self::path();
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a valid client config: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", p.display())),
        }
    }

    /// Save with mode 0600: the file holds a login token.
    pub fn save(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let p = Self::path();
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = p.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)?;
        Ok(())
    }

    /// Merge flags over the remembered settings.
    pub fn with_args(mut self, a: &ConnectArgs) -> Self {
        if let Some(u) = &a.url {
            if self.url.as_deref() != Some(u.as_str()) {
                self.token = None; // a token is only valid for its server
            }
            self.url = Some(u.clone());
        }
        if let Some(u) = &a.user {
            if self.user.as_deref() != Some(u.as_str()) {
                self.token = None;
            }
            self.user = Some(u.clone());
        }
        if a.ca.is_some() {
            self.ca = a.ca.clone();
        }
        if a.client_cert.is_some() {
            self.client_cert = a.client_cert.clone();
        }
        if a.client_key.is_some() {
            self.client_key = a.client_key.clone();
        }
        self
    }
}
