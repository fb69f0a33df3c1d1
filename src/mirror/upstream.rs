//! The HTTP client towards upstream indexes: bounded concurrency, bounded
//! time, bounded retries, and in offline mode no requests at all (this is
//! the one place that talks to upstream, so the check lives here).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use reqwest::{StatusCode, Url};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::settings::MirrorSettings;

/// What airlock asks upstream for: PEP 691 JSON, HTML if that is all it has.
pub const ACCEPT_PAGE: &str = "application/vnd.pypi.simple.v1+json, \
    application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// Largest project page read from upstream.
pub const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// Largest JSON API document read from upstream (projects with thousands
/// of releases run to a few MiB).
pub const MAX_JSON_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("airlock runs --offline and does not contact upstream")]
    Offline,
    #[error("{url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url}: the upstream certificate is not trusted ({reason}); airlock trusts the \
         system trust store (or SSL_CERT_FILE / SSL_CERT_DIR when set): add the CA that signs \
         it there, or pass it with --upstream-ca FILE.pem (behind a TLS-intercepting proxy: \
         the proxy's CA)"
    )]
    Certificate { url: String, reason: String },
    #[error("{url}: upstream speaks HTTPS on this port: use an https:// URL for --upstream")]
    PlainHttpToTls { url: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent a page larger than {MAX_PAGE_BYTES} bytes")]
    TooLarge { url: String },
    #[error("the upstream HTTP client could not be set up: {0}")]
    Setup(String),
}

impl UpstreamError {
    /// Worth another attempt: the network or the server had a bad moment.
    fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The validators of a cached page, for a conditional request.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum PageFetch {
    Modified(FetchedPage),
    NotModified,
    /// 404 or 410: upstream has no such project.
    NotFound,
}

#[derive(Debug)]
pub struct FetchedPage {
    pub body: Vec<u8>,
    /// Upstream answered with PEP 691 JSON (else HTML).
    pub json: bool,
    /// The URL after redirects: base for relative links.
    pub url: Url,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `X-PyPI-Last-Serial`.
    pub serial: Option<i64>,
}

pub struct Upstream {
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    retries: u32,
    offline: bool,
    stats: Stats,
}

/// Counters of what upstream was asked and how it went, since start.
#[derive(Default)]
struct Stats {
    requests: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
    last_failure: std::sync::Mutex<Option<(i64, String)>>,
}

/// A snapshot of [`Stats`] for the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStats {
    /// Requests made, retries included.
    pub requests: u64,
    /// Requests that ended in an error after their retries (a 404 is an answer, not an error).
    pub failures: u64,
    /// When and why the last one failed.
    pub last_failure: Option<(i64, String)>,
}

impl Upstream {
    pub fn new(settings: &MirrorSettings) -> Result<Self, UpstreamError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION"), " (mirror)"))
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            // object_store turns on reqwest's http2 feature: keep upstream
            // traffic on HTTP/1.1, as it always was
            .http1_only()
            .https_only(false);
        let trust =
            crate::tls::trust::Trust::load(settings.extra_ca_pem.as_deref(), "--upstream-ca")
                .map_err(|e| UpstreamError::Setup(e.to_string()))?;
        tracing::debug!(source = %trust.system_source, system = trust.system_count,
            extra = trust.extra_count, "upstream trust anchors");
        builder = trust.apply(builder);
        let client = builder
            .build()
            .map_err(|e| UpstreamError::Setup(error_chain(&e)))?;
        Ok(Self {
            client,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            retries: settings.retries,
            offline: settings.offline,
            stats: Stats::default(),
        })
    }

    /// What upstream was asked since start and how it went.
    pub fn stats(&self) -> UpstreamStats {
        use std::sync::atomic::Ordering::Relaxed;
        UpstreamStats {
            requests: self.stats.requests.load(Relaxed),
            failures: self.stats.failures.load(Relaxed),
            last_failure: self
                .stats
                .last_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Fetch a project page, conditionally when validators are known.
    pub async fn page(&self, url: &Url, v: &Validators) -> Result<PageFetch, UpstreamError> {
        let _permit = self.permit().await?;
        self.retrying(|| self.page_once(url, v)).await
    }

    async fn page_once(&self, url: &Url, v: &Validators) -> Result<PageFetch, UpstreamError> {
        let mut req = self.client.get(url.clone()).header(ACCEPT, ACCEPT_PAGE);
        if let Some(etag) = &v.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &v.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| unreachable(url, &e))?;
        match resp.status() {
            StatusCode::NOT_MODIFIED => return Ok(PageFetch::NotModified),
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(PageFetch::NotFound),
            s if !s.is_success() => {
                return Err(UpstreamError::Status {
                    url: url.to_string(),
                    status: s.as_u16(),
                })
            }
            _ => {}
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let json = header(CONTENT_TYPE).is_some_and(|c| c.to_ascii_lowercase().contains("json"));
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        let serial = resp
            .headers()
            .get("x-pypi-last-serial")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse().ok());
        let final_url = resp.url().clone();
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_PAGE_BYTES as u64)
        {
            return Err(UpstreamError::TooLarge {
                url: url.to_string(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(url, &e))? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(UpstreamError::TooLarge {
                    url: url.to_string(),
                });
            }
            crate::metrics::count_upstream_bytes(chunk.len());
            body.extend_from_slice(&chunk);
        }
        Ok(PageFetch::Modified(FetchedPage {
            body,
            json,
            url: final_url,
            etag,
            last_modified,
            serial,
        }))
    }

    /// Fetch a small JSON document (the PyPI JSON API's project facts):
    /// `Ok(None)` when upstream has no such document (404, 410).
    pub async fn json_document(&self, url: &Url) -> Result<Option<Vec<u8>>, UpstreamError> {
        let _permit = self.permit().await?;
        self.retrying(|| async {
            let mut resp = self
                .client
                .get(url.clone())
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| unreachable(url, &e))?;
            match resp.status() {
                StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
                s if !s.is_success() => {
                    return Err(UpstreamError::Status {
                        url: url.to_string(),
                        status: s.as_u16(),
                    })
                }
                _ => {}
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(url, &e))? {
                if body.len() + chunk.len() > MAX_JSON_DOCUMENT_BYTES {
                    return Err(UpstreamError::TooLarge {
                        url: url.to_string(),
                    });
                }
                crate::metrics::count_upstream_bytes(chunk.len());
                body.extend_from_slice(&chunk);
            }
            Ok(Some(body))
        })
        .await
    }

    /// Start downloading a file: the response once upstream answered 200,
    /// with the concurrency permit to hold while reading its body.
    pub async fn file(
        &self,
        url: &Url,
    ) -> Result<(reqwest::Response, OwnedSemaphorePermit), UpstreamError> {
        let permit = self.permit().await?;
        let resp = self
            .retrying(|| async {
                let resp = self
                    .client
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|e| unreachable(url, &e))?;
                if resp.status().is_success() {
                    Ok(resp)
                } else {
                    Err(UpstreamError::Status {
                        url: url.to_string(),
                        status: resp.status().as_u16(),
                    })
                }
            })
            .await?;
        Ok((resp, permit))
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, UpstreamError> {
        if self.offline {
            return Err(UpstreamError::Offline);
        }
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| UpstreamError::Setup("the upstream semaphore was closed".into()))
    }

    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let mut n = 0;
        loop {
            self.stats.requests.fetch_add(1, Relaxed);
            match attempt().await {
                Err(e) if e.is_transient() && n < self.retries => {
                    n += 1;
                    let pause = Duration::from_millis(200 * (1 << n.min(4)));
                    tracing::info!(error = %e, attempt = n, "upstream request failed; retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Relaxed);
                    *self
                        .stats
                        .last_failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) =
                        Some((crate::store::now(), e.to_string()));
                    return Err(e);
                }
                ok => return ok,
            }
        }
    }
}

fn unreachable(url: &Url, e: &reqwest::Error) -> UpstreamError {
    use crate::tls::trust::{classify, TlsFailure};
    match classify(e) {
        Some(TlsFailure::Certificate) => {
            return UpstreamError::Certificate {
                url: url.to_string(),
                reason: certificate_reason(e),
            }
        }
        Some(TlsFailure::PlainHttpToTls) => {
            return UpstreamError::PlainHttpToTls {
                url: url.to_string(),
            }
        }
        None => {}
    }
    let reason = if e.is_timeout() {
        format!("timed out ({})", error_chain(e))
    } else {
        error_chain(e)
    };
    UpstreamError::Unreachable {
        url: url.to_string(),
        reason,
    }
}

/// The innermost message of a certificate failure (`invalid peer
/// certificate: UnknownIssuer`), without reqwest's generic wrappers.
fn certificate_reason(e: &reqwest::Error) -> String {
    let chain = error_chain(e);
    match chain.find("invalid peer certificate") {
        Some(i) => chain[i..].to_string(),
        None => chain,
    }
}

/// An error with its causes, `a: b: c` (reqwest's own message is terse).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors() {
        let url = "http://x/".to_string();
        let cases = [
            (
                UpstreamError::Unreachable {
                    url: url.clone(),
                    reason: "refused".into(),
                },
                true,
            ),
            (
                UpstreamError::Status {
                    url: url.clone(),
                    status: 503,
                },
                true,
            ),
            (
                UpstreamError::Status {
                    url: url.clone(),
                    status: 429,
                },
                true,
            ),
            (
                UpstreamError::Status {
                    url: url.clone(),
                    status: 403,
                },
                false,
            ),
            (UpstreamError::TooLarge { url: url.clone() }, false),
            (UpstreamError::Offline, false),
            (
                UpstreamError::Certificate {
                    url: url.clone(),
                    reason: "invalid peer certificate: UnknownIssuer".into(),
                },
                false,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.is_transient(), want, "{e}");
        }
    }

    #[tokio::test]
    async fn offline_never_connects() {
        let settings = MirrorSettings {
            offline: true,
            ..MirrorSettings::default()
        };
        let up = Upstream::new(&settings).unwrap();
        // port 9 (discard) on localhost: would fail differently if contacted
        let url = Url::parse("http://127.0.0.1:9/simple/x/").unwrap();
        assert_eq!(
            up.page(&url, &Validators::default()).await.unwrap_err(),
            UpstreamError::Offline
        );
        assert_eq!(up.file(&url).await.unwrap_err(), UpstreamError::Offline);
    }
}
