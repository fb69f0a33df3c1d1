//! Deployment files for the current settings: an nginx site in front of
//! airlock (`nginx`) and a hardened systemd unit (`systemd`). Pure text
//! generation from a [`Deployment`]; `cli::gen_config` builds one from the
//! `serve` flags and prints the result.
//!
//! Also the `--accel-redirect` prefix: with it, airlock answers a download
//! it has authorised with an empty body and `X-Accel-Redirect`, and nginx
//! sends the blob from an `internal` location. nginx never serves a file on
//! its own, so every check stays in airlock.

pub mod nginx;
pub mod systemd;

use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::Sha256;

/// The URL prefix of nginx's `internal` location over `blobs/`
/// (`--accel-redirect`): `/` then one or more segments of ASCII letters,
/// digits and `+ - _ .`, no `.`/`..` segment, no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelPrefix(String);

#[derive(Debug, thiserror::Error)]
#[error("--accel-redirect {0:?}: {1}")]
pub struct AccelPrefixError(String, &'static str);

impl FromStr for AccelPrefix {
    type Err = AccelPrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| Err(AccelPrefixError(s.to_string(), why));
        let Some(rest) = s.strip_prefix('/') else {
            return bad("must start with '/'");
        };
        if rest.is_empty() || rest.ends_with('/') {
            return bad("needs a name after '/' and no trailing '/'");
        }
        for seg in rest.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." {
                return bad("empty, '.' and '..' segments are not allowed");
            }
            if !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_' | b'.'))
            {
                return bad("only ASCII letters, digits, '+', '-', '_' and '.'");
            }
        }
        Ok(Self(s.to_string()))
    }
}

impl AccelPrefix {
    /// The prefix the generated configuration uses when none is given. A
    /// `+` name cannot collide with a user (user names never start with `+`).
    pub const DEFAULT: &'static str = "/+airlock-internal";

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where nginx finds the blob `sha`: the prefix, then the blob's path
    /// relative to `blobs/` (`aa/bb/<sha256>`, as `store::blobs` lays it out).
    pub fn target(&self, sha: &Sha256) -> String {
        let hex = sha.to_hex();
        format!("{}/{}/{}/{hex}", self.0, &hex[0..2], &hex[2..4])
    }
}

impl std::fmt::Display for AccelPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How TLS is arranged between clients, nginx and airlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS anywhere (an `http://` outside URL: loopback and tests only).
    Plain,
    /// nginx terminates TLS with this certificate and key and speaks plain
    /// HTTP to airlock on loopback.
    AtNginx { cert: PathBuf, key: PathBuf },
    /// airlock terminates TLS itself (`--tls-cert`, needed when it verifies
    /// client certificates): nginx passes the encrypted stream through and
    /// sees no HTTP, so it can neither add headers nor serve files.
    PassThrough,
}

/// Everything the generated files depend on.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The airlock binary the unit starts (absolute).
    pub binary: PathBuf,
    /// The data folder (absolute).
    pub data: PathBuf,
    /// airlock's listen address (`host:port`).
    pub listen: String,
    /// The URL clients use.
    pub outside_url: Option<reqwest::Url>,
    /// The `serve` arguments, rendered (absolute paths), for `ExecStart`.
    pub serve_args: Vec<String>,
    /// Extra paths airlock writes besides the data folder (an audit export).
    pub writable_paths: Vec<PathBuf>,
    /// Files airlock reads (policies, certificates), to decide about /home.
    pub read_paths: Vec<PathBuf>,
    /// `--accel-redirect`, when airlock hands file bytes to nginx.
    pub accel: Option<AccelPrefix>,
    /// airlock's `--max-upload-mb`.
    pub max_upload_mb: u64,
    pub tls: TlsMode,
    /// Where nginx listens (default: the outside URL's port on all addresses).
    pub nginx_listen: Option<String>,
    /// The system user the unit runs as.
    pub user: String,
}

impl Deployment {
    /// The host of the outside URL (nginx's `server_name`), `_` if none.
    pub fn server_name(&self) -> String {
        self.outside_url
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "_".into())
    }

    /// The port nginx listens on for clients.
    pub fn public_port(&self) -> u16 {
        self.outside_url
            .as_ref()
            .and_then(|u| u.port_or_known_default())
            .unwrap_or(443)
    }
}

#[cfg(test)]
pub(crate) fn example() -> Deployment {
    Deployment {
        binary: "/usr/local/bin/airlock".into(),
        data: "/var/lib/airlock".into(),
        listen: "127.0.0.1:3141".into(),
        outside_url: Some("https://pkg.acme.internal".parse().expect("url")),
        serve_args: vec![
            "--data".into(),
            "/var/lib/airlock".into(),
            "--listen".into(),
            "127.0.0.1:3141".into(),
        ],
        writable_paths: vec![],
        read_paths: vec![],
        accel: Some(AccelPrefix::DEFAULT.parse().expect("prefix")),
        max_upload_mb: 100,
        tls: TlsMode::AtNginx {
            cert: "/etc/ssl/airlock/server.pem".into(),
            key: "/etc/ssl/airlock/server.key".into(),
        },
        nginx_listen: None,
        user: "airlock".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accel_prefixes() {
        for good in ["/+airlock-internal", "/_blobs", "/a/b.c"] {
            assert!(good.parse::<AccelPrefix>().is_ok(), "{good}");
        }
        for bad in [
            "", "/", "x", "/a/", "/a//b", "/../x", "/a/./b", "/a b", "/a\"", "/a;b", "/a$b", "/é",
        ] {
            assert!(bad.parse::<AccelPrefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn accel_target_is_the_blob_layout() {
        let sha = Sha256::of(b"hello");
        let p: AccelPrefix = "/+airlock-internal".parse().expect("prefix");
        let hex = sha.to_hex();
        assert_eq!(
            p.target(&sha),
            format!("/+airlock-internal/{}/{}/{hex}", &hex[..2], &hex[2..4])
        );
        // the same relative path as the blob store's
        let dir = tempfile::tempdir().expect("tmp");
        let store = crate::store::blobs::BlobStore::open(dir.path()).expect("store");
        let rel = store.local_path(&sha).expect("local");
        let rel = rel
            .strip_prefix(dir.path().join("blobs"))
            .expect("under blobs");
        assert_eq!(
            p.target(&sha),
            format!("/+airlock-internal/{}", rel.display())
        );
    }
}
