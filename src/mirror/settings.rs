//! Mirror settings: the `airlock serve` flags that shape how upstream is
//! used, and their validated form.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// How long a mirrored project page stays fresh when the index does not say
/// (`mirror_cache_expiry`), in seconds.
pub const DEFAULT_CACHE_EXPIRY_SECS: u64 = 1800;

/// The `airlock serve` flags of the mirror (flattened into `ServeArgs`).
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// Upstream simple index of mirror indexes that set no `mirror_url`
    /// (root/pypi among them): pypi.org, another airlock, a devpi server.
    #[arg(
        long,
        default_value = "https://pypi.org/simple/",
        env = "AIRLOCK_UPSTREAM"
    )]
    pub upstream: String,
    /// Never contact upstream: mirrors serve only what is cached.
    #[arg(long, env = "AIRLOCK_OFFLINE")]
    pub offline: bool,
    /// Seconds to wait for upstream to connect or to send the next bytes.
    #[arg(long, default_value_t = 30, env = "AIRLOCK_UPSTREAM_TIMEOUT")]
    pub upstream_timeout: u64,
    /// Extra attempts after an upstream timeout, connection error or 5xx.
    #[arg(long, default_value_t = 2, env = "AIRLOCK_UPSTREAM_RETRIES")]
    pub upstream_retries: u32,
    /// Most upstream requests in flight at once.
    #[arg(long, default_value_t = 8, env = "AIRLOCK_UPSTREAM_CONCURRENCY")]
    pub upstream_concurrency: usize,
    /// Seconds to remember that upstream has no such project.
    #[arg(long, default_value_t = 300, env = "AIRLOCK_MIRROR_NEGATIVE_TTL")]
    pub mirror_negative_ttl: u64,
    /// PEM file of extra CA certificates to trust for upstream HTTPS (a
    /// company proxy's CA, a private upstream's CA).
    #[arg(long, env = "AIRLOCK_UPSTREAM_CA")]
    pub upstream_ca: Option<PathBuf>,
    /// devpi's mirroring model, for upstreams that list files without a
    /// sha256 (old devpi or simple indexes, plain file servers): such files
    /// are listed (`+e/…` URLs), their digest is pinned on the first
    /// download (trust on first use), and a project upstream no longer has
    /// keeps its last listing. Off: files without a valid sha256 are not
    /// offered, and a project upstream removed disappears.
    #[arg(long, env = "AIRLOCK_MIRROR_UNVERIFIED_FILES")]
    pub mirror_unverified_files: bool,
    /// Mirror cache retention: keep at most this many GB (GiB; decimals
    /// allowed) of cached mirror files, evicting the least recently used.
    /// Files a stage index references are never evicted nor counted; an
    /// evicted file is fetched and verified again when next asked for.
    #[arg(long, env = "AIRLOCK_MIRROR_CACHE_MAX_GB", value_name = "GB",
          value_parser = super::retention::parse_gb)]
    pub mirror_cache_max_gb: Option<u64>,
    /// Mirror cache retention: evict cached mirror files unused for longer
    /// than this (30d, 12h, 90m, 1d12h).
    #[arg(long, env = "AIRLOCK_MIRROR_CACHE_MAX_AGE", value_name = "DURATION",
          value_parser = super::retention::parse_duration)]
    pub mirror_cache_max_age: Option<Duration>,
    /// Mirror cache retention never evicts a file used more recently than
    /// this (a download or push may be about to open it).
    #[arg(long, env = "AIRLOCK_MIRROR_CACHE_MIN_IDLE", value_name = "DURATION",
          default_value = "10m", value_parser = super::retention::parse_duration)]
    pub mirror_cache_min_idle: Duration,
}

/// Validated mirror settings.
#[derive(Debug, Clone)]
pub struct MirrorSettings {
    /// Upstream of mirrors without their own `mirror_url`; ends with '/'.
    pub upstream: String,
    pub offline: bool,
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    pub negative_ttl: Duration,
    /// PEM bytes of extra trusted CA certificates.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// `--mirror-unverified-files`: keep files without a sha256 (trust on
    /// first use) and the links of projects upstream removed.
    pub unverified_files: bool,
    /// Mirror cache retention (`--mirror-cache-*`).
    pub retention: super::retention::RetentionPolicy,
}

impl Default for MirrorSettings {
    fn default() -> Self {
        Self {
            upstream: "https://pypi.org/simple/".into(),
            offline: false,
            timeout: Duration::from_secs(30),
            retries: 2,
            concurrency: 8,
            negative_ttl: Duration::from_secs(300),
            extra_ca_pem: None,
            unverified_files: false,
            retention: super::retention::RetentionPolicy {
                min_idle: super::retention::DEFAULT_MIN_IDLE,
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("--upstream {0:?} is not an http(s) URL")]
    BadUpstream(String),
    #[error("--upstream-concurrency must be at least 1")]
    NoConcurrency,
    #[error("--upstream-timeout must be at least 1 second")]
    NoTimeout,
    #[error("reading --upstream-ca {path}: {source}")]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MirrorArgs {
    pub fn settings(&self) -> Result<MirrorSettings, SettingsError> {
        if self.upstream_concurrency == 0 {
            return Err(SettingsError::NoConcurrency);
        }
        if self.upstream_timeout == 0 {
            return Err(SettingsError::NoTimeout);
        }
        let extra_ca_pem = match &self.upstream_ca {
            Some(path) => Some(std::fs::read(path).map_err(|source| SettingsError::Ca {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        Ok(MirrorSettings {
            upstream: normalize_upstream(&self.upstream)?,
            offline: self.offline,
            timeout: Duration::from_secs(self.upstream_timeout),
            retries: self.upstream_retries.min(10),
            concurrency: self.upstream_concurrency,
            negative_ttl: Duration::from_secs(self.mirror_negative_ttl),
            extra_ca_pem,
            unverified_files: self.mirror_unverified_files,
            retention: super::retention::RetentionPolicy {
                max_bytes: self.mirror_cache_max_gb,
                max_age: self.mirror_cache_max_age,
                min_idle: self.mirror_cache_min_idle,
            },
        })
    }
}

/// An upstream simple index URL with exactly one trailing '/', so that
/// project URLs are `{upstream}{name}/`.
pub fn normalize_upstream(raw: &str) -> Result<String, SettingsError> {
    let url =
        reqwest::Url::parse(raw.trim()).map_err(|_| SettingsError::BadUpstream(raw.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SettingsError::BadUpstream(raw.to_string()));
    }
    let mut s = url.to_string();
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingsError::BadUpstream(raw.to_string()));
    }
    while s.ends_with('/') {
        s.pop();
    }
    s.push('/');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let ok = [
            ("https://pypi.org/simple", "https://pypi.org/simple/"),
            ("https://pypi.org/simple/", "https://pypi.org/simple/"),
            (
                "http://127.0.0.1:8080/root/pypi/+simple//",
                "http://127.0.0.1:8080/root/pypi/+simple/",
            ),
        ];
        for (raw, want) in ok {
            assert_eq!(normalize_upstream(raw).unwrap(), want, "{raw}");
        }
        for bad in [
            "",
            "pypi.org/simple",
            "file:///etc",
            "ftp://x/",
            "https://x/?a=1",
            "https://",
        ] {
            assert!(normalize_upstream(bad).is_err(), "{bad}");
        }
    }
}
