//! A thin JSON client for airlock's devpi-style API.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{ClientConfig, ConnectArgs};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no server configured: run `airlock use URL` or pass --url")]
    NoServer,
    #[error("cannot reach {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "{url}: the server's certificate is not trusted ({reason}); pass the CA that signs it \
         with --ca FILE.pem (remembered by `airlock use`), or add it to the system trust store \
         / SSL_CERT_FILE"
    )]
    Certificate { url: String, reason: String },
    #[error(
        "{url}: the server speaks HTTPS but the URL says http://; run `airlock use https://{host}` \
         (or pass --url https://...)"
    )]
    PlainHttpToTls { url: String, host: String },
    #[error("the server answered {status}: {message}")]
    Server { status: StatusCode, message: String },
    #[error("{0}")]
    Setup(String),
}

pub struct ApiClient {
    http: reqwest::Client,
    pub base: String,
    pub config: ClientConfig,
    password: Option<String>,
}

impl ApiClient {
    pub fn new(args: &ConnectArgs) -> anyhow::Result<Self> {
        let config = ClientConfig::load()?.with_args(args);
        Self::from_config(config, args.password.clone())
    }

    pub fn from_config(config: ClientConfig, password: Option<String>) -> anyhow::Result<Self> {
        let base = config
            .url
            .clone()
            .ok_or(ClientError::NoServer)?
            .trim_end_matches('/')
            .to_string();
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            // HTTP/1.1 as always (object_store turns on reqwest's http2)
            .http1_only()
            .user_agent(concat!("airlock-cli/", env!("CARGO_PKG_VERSION")));
        let ca_pem = match &config.ca {
            Some(ca) => Some(
                std::fs::read(ca)
                    .map_err(|e| ClientError::Setup(format!("reading {}: {e}", ca.display())))?,
            ),
            None => None,
        };
        b = crate::tls::trust::Trust::load(ca_pem.as_deref(), "--ca")
            .map_err(|e| ClientError::Setup(e.to_string()))?
            .apply(b);
        if let Some(cert) = &config.client_cert {
            let mut pem = std::fs::read(cert)
                .map_err(|e| ClientError::Setup(format!("reading {}: {e}", cert.display())))?;
            if let Some(key) = &config.client_key {
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(key).map_err(|e| {
                        ClientError::Setup(format!("reading {}: {e}", key.display()))
                    })?,
                );
            }
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ClientError::Setup(format!(
                    "{}: not a PEM certificate plus private key ({e}); give the key with --client-key",
                    cert.display()
                ))
            })?;
            b = b.identity(id);
        }
        Ok(Self {
            http: b.build()?,
            base,
            config,
            password,
        })
    }

    fn auth_header(&self) -> Option<(&'static str, String)> {
        let user = self.config.user.as_deref()?;
        let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
        if let Some(pw) = &self.password {
            return Some((
                "authorization",
                format!("Basic {}", b64(format!("{user}:{pw}"))),
            ));
        }
        let token = self.config.token.as_deref()?;
        Some(("x-devpi-auth", b64(format!("{user}:{token}"))))
    }

    /// Send a request; `body` is JSON, or raw text with a content type.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method, &url)
            .header("accept", "application/json");
        if let Some((k, v)) = self.auth_header() {
            req = req.header(k, v);
        }
        req = match body {
            RequestBody::None => req,
            RequestBody::Json(v) => req.json(&v),
            RequestBody::Text(t, ct) => req.header("content-type", ct).body(t),
        };
        let resp = req
            .send()
            .await
            .map_err(|source| connect_error(&url, source))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = json["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| text.trim().to_string());
            return Err(ClientError::Server { status, message });
        }
        Ok(json)
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.request(Method::GET, path, RequestBody::None).await
    }
}

/// A failed request as the user should read it: a certificate or scheme
/// problem names the fix instead of reqwest's cause chain.
fn connect_error(url: &str, source: reqwest::Error) -> ClientError {
    use crate::tls::trust::{classify, TlsFailure};
    match classify(&source) {
        Some(TlsFailure::Certificate) => {
            let chain = crate::mirror::upstream::error_chain(&source);
            let reason = match chain.find("invalid peer certificate") {
                Some(i) => chain[i..].to_string(),
                None => chain,
            };
            ClientError::Certificate {
                url: url.to_string(),
                reason,
            }
        }
        Some(TlsFailure::PlainHttpToTls) => {
            let host = reqwest::Url::parse(url)
                .ok()
                .and_then(|u| {
                    u.host_str().map(|h| {
                        format!(
                            "{h}{}",
                            u.port().map(|p| format!(":{p}")).unwrap_or_default()
                        )
                    })
                })
                .unwrap_or_default();
            ClientError::PlainHttpToTls {
                url: url.to_string(),
                host,
            }
        }
        None => ClientError::Connect {
            url: url.to_string(),
            source,
        },
    }
}

pub enum RequestBody {
    None,
    Json(Value),
    Text(String, &'static str),
}
