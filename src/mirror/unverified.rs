//! Unverified links (`--mirror-unverified-files`): files an upstream lists
//! without a usable sha256, kept the way devpi keeps them.
//!
//! - A file without a sha256 is listed under devpi's URL form
//!   `+e/{dirname}/{filename}`, where the dirname comes from its upstream
//!   URL ([`external_dirname`]). Its first download is stored and its
//!   digest *pinned* (trust on first use): from then on the stored bytes
//!   are served, and bytes fetched again must have the pinned digest.
//! - A file whose declared sha256 is malformed (`#sha256=1234`) is listed
//!   as devpi lists it, `+f/{3 chars}/{next 13 chars}/{filename}`, but is
//!   never served: upstream's claim about it cannot be true.
//!
//! Files that do have a valid sha256 never come here (see [`super::fetch`]).

use std::sync::Arc;

use reqwest::Url;

use super::fetch::MAX_FILE_BYTES;
use super::upstream::{error_chain, UpstreamError};
use super::{Mirror, MirrorError};
use crate::digest::Sha256;
use crate::store::mirror::{self as mirror_table, MirrorLinkRow};
use crate::store::{StoreError, TempBlob};

/// Bytes gathered before they are written to the temp blob.
const FLUSH_BYTES: usize = 64 * 1024;

/// Where an unverified link is served, below its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPath {
    /// `+e/{dirname}/{filename}`: no sha256 declared.
    External { dirname: String },
    /// `+f/{h1}/{h2}/{filename}`: a malformed sha256 declared.
    Declared { h1: String, h2: String },
}

impl LinkPath {
    pub fn of(link: &MirrorLinkRow) -> Self {
        match &link.malformed_sha256 {
            Some(bad) => Self::Declared {
                h1: bad.chars().take(3).collect(),
                h2: bad.chars().skip(3).take(13).collect(),
            },
            None => Self::External {
                dirname: external_dirname(&link.url),
            },
        }
    }
}

/// devpi's directory name of a file without a digest: its URL without the
/// file name, as one path segment. `http://localhost:45678/pkg/x.zip` →
/// `http_localhost_45678_pkg`: scheme, host, port and directories joined
/// with `_`, and every character outside `[A-Za-z0-9_.-]` replaced by `_`.
pub fn external_dirname(url: &str) -> String {
    let Ok(url) = Url::parse(url) else {
        return "_".into();
    };
    let mut parts = vec![url.scheme().to_string()];
    parts.push(url.host_str().unwrap_or_default().to_string());
    if let Some(port) = url.port() {
        parts.push(port.to_string());
    }
    if let Some(segments) = url.path_segments() {
        let segments: Vec<&str> = segments.collect();
        if let Some((_, dirs)) = segments.split_last() {
            parts.extend(dirs.iter().map(|s| s.to_string()));
        }
    }
    parts
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Mirror {
    /// Whether unverified links are kept and served at all.
    pub fn unverified_files(&self) -> bool {
        self.settings.unverified_files
    }

    /// The unverified link of a mirror listed at `place` under `filename`
    /// (`None` when unverified files are off).
    pub async fn find_link(
        &self,
        index_id: i64,
        filename: &str,
        place: &LinkPath,
    ) -> Result<Option<MirrorLinkRow>, StoreError> {
        if !self.unverified_files() {
            return Ok(None);
        }
        let name = filename.to_string();
        let rows = self
            .db
            .read(move |c| mirror_table::links_named(c, index_id, &name))
            .await?;
        Ok(rows.into_iter().find(|l| LinkPath::of(l) == *place))
    }

    /// The stored bytes of an unverified link: its pinned blob, or the
    /// first download, stored and pinned now. Bytes that do not match an
    /// existing pin are refused, as is a link with a malformed digest.
    pub async fn open_link(
        &self,
        index_id: i64,
        link: &MirrorLinkRow,
    ) -> Result<Sha256, MirrorError> {
        let what = link.filename.clone();
        let refuse = |reason: String| MirrorError::Upstream {
            what: what.clone(),
            reason,
        };
        if !self.unverified_files() {
            return Err(refuse("unverified mirror files are not served".into()));
        }
        if let Some(bad) = &link.malformed_sha256 {
            return Err(refuse(format!(
                "upstream declared a malformed sha256 ({bad:?}) for it, so its bytes can \
                 never be verified; airlock does not serve it"
            )));
        }
        if let Some(pin) = link.pinned_sha256 {
            self.cache_use.touch(&pin);
            if self.blobs.exists(&pin) {
                return Ok(pin);
            }
        }
        if self.settings.offline {
            return Err(MirrorError::NotCachedOffline { what });
        }
        let _guard = self
            .link_downloads
            .lock((index_id, format!("{}/{}", link.project, link.filename)))
            .await;
        // Whoever held the lock may have downloaded and pinned it.
        let (project, filename) = (link.project.clone(), link.filename.clone());
        let current = self
            .db
            .read(move |c| mirror_table::links_named(c, index_id, &filename))
            .await?
            .into_iter()
            .find(|l| l.project == project);
        let pin = current.as_ref().and_then(|l| l.pinned_sha256);
        if let Some(p) = pin.filter(|p| self.blobs.exists(p)) {
            return Ok(p);
        }
        let url =
            Url::parse(&link.url).map_err(|e| refuse(format!("bad URL {}: {e}", link.url)))?;
        let temp = self.download_link(&url, link.size).await.map_err(refuse)?;
        let sha = temp.sha256();
        if pin.is_some_and(|p| p != sha) {
            return Err(self.mismatch(link, pin, sha));
        }
        let blobs = Arc::clone(&self.blobs);
        let size = temp.size();
        self.cache_use.touch(&sha);
        let created = tokio::task::spawn_blocking(move || blobs.commit(temp))
            .await
            .map_err(|e| refuse(format!("storing it: {e}")))??;
        if created {
            self.cache_use.added(size);
        }
        let (project, filename) = (link.project.clone(), link.filename.clone());
        let now = crate::store::now();
        let pinned = self
            .db
            .write(move |tx| mirror_table::pin_link(tx, index_id, &project, &filename, &sha, now))
            .await?;
        match pinned {
            Some(p) if p == sha => {
                if pin.is_none() {
                    tracing::info!(
                        target: "security", file = %link.filename, url = %link.url, sha256 = %sha,
                        "unverified mirror file downloaded; its sha256 is pinned (trust on first use)"
                    );
                }
                Ok(sha)
            }
            Some(p) => Err(self.mismatch(link, Some(p), sha)),
            None => Err(refuse("upstream no longer lists it".into())),
        }
    }

    fn mismatch(&self, link: &MirrorLinkRow, pin: Option<Sha256>, got: Sha256) -> MirrorError {
        tracing::warn!(
            target: "security", file = %link.filename, url = %link.url,
            pinned_sha256 = ?pin.map(|p| p.to_hex()), actual_sha256 = %got,
            "upstream sent other bytes for an unverified file than the ones pinned on first use; refused"
        );
        MirrorError::Upstream {
            what: link.filename.clone(),
            reason: format!(
                "upstream now sends bytes with sha256 {got}, but the file was pinned to another \
                 digest on its first download (trust on first use); refusing to serve it"
            ),
        }
    }

    /// Download a whole file into a temp blob (hashing it on the way).
    async fn download_link(&self, url: &Url, size: Option<u64>) -> Result<TempBlob, String> {
        let (mut resp, _permit) = self.upstream.file(url).await.map_err(|e| match e {
            // devpi's wording, which its client's tests look for
            UpstreamError::Status { status, .. } => format!("error {status} getting {url}"),
            other => other.to_string(),
        })?;
        let limit = size.unwrap_or(MAX_FILE_BYTES).min(MAX_FILE_BYTES);
        let too_big = || format!("{url} is larger than {limit} bytes");
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_big());
        }
        let mut temp = self.blobs.create_temp().map_err(|e| e.to_string())?;
        let mut pending: Vec<u8> = Vec::with_capacity(FLUSH_BYTES);
        let mut received: u64 = 0;
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| format!("download from {url} broke off: {}", error_chain(&e)))?;
            let end = chunk.is_none();
            if let Some(c) = chunk {
                received += c.len() as u64;
                crate::metrics::count_upstream_bytes(c.len());
                if received > limit {
                    return Err(too_big());
                }
                pending.extend_from_slice(&c);
            }
            if pending.len() >= FLUSH_BYTES || (end && !pending.is_empty()) {
                let data = std::mem::take(&mut pending);
                temp = tokio::task::spawn_blocking(move || temp.write_all(&data).map(|()| temp))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            }
            if end {
                return Ok(temp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirnames_as_devpi_makes_them() {
        for (url, want) in [
            (
                "http://localhost:45678/pkg/pkg-1.0.zip",
                "http_localhost_45678_pkg",
            ),
            (
                "https://files.example/a/b c/x.whl",
                "https_files.example_a_b_20c",
            ),
            ("https://files.example/x.whl", "https_files.example"),
            ("http://[::1]:8080/p/x.zip", "http____1__8080_p"),
        ] {
            assert_eq!(external_dirname(url), want, "{url}");
        }
    }

    #[test]
    fn link_paths() {
        let mut l = MirrorLinkRow {
            project: "pkg".into(),
            filename: "pkg-1.0.zip".into(),
            url: "http://localhost:1/pkg/pkg-1.0.zip".into(),
            malformed_sha256: None,
            pinned_sha256: None,
            pinned_at: None,
            requires_python: None,
            yanked: None,
            size: None,
            upload_time: None,
        };
        assert_eq!(
            LinkPath::of(&l),
            LinkPath::External {
                dirname: "http_localhost_1_pkg".into()
            }
        );
        l.malformed_sha256 = Some("1234".into());
        assert_eq!(
            LinkPath::of(&l),
            LinkPath::Declared {
                h1: "123".into(),
                h2: "4".into()
            }
        );
    }
}
