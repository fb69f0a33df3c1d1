//! The S3 backend: blobs as objects `<prefix>/<aa>/<bb>/<sha256>` in an
//! S3-compatible bucket, through `object_store`'s S3 client.
//!
//! **Sync callers, async client.** [`super::BlobStore`] is synchronous and
//! called from the blocking pool, the database thread and (briefly, for
//! `exists`) async handlers. This backend owns a small tokio runtime of its
//! own (two threads, `airlock-s3`) on which every `object_store` call runs;
//! a synchronous operation spawns its future there and waits for the
//! answer on a channel (inside `block_in_place` when the caller is a tokio
//! worker), so no caller ever runs `Handle::block_on` inside a runtime.
//! Downloads are the exception: [`S3Blobs::open_read`] is async and the
//! object's bytes reach the handler through a bounded channel fed by a
//! task on that runtime (one connection pool, one runtime, always alive).
//!
//! **Bounded failure.** `object_store` retries for minutes by default; here
//! a connection attempt gives up after 3 s, a request is retried at most
//! twice and never after 10 s; small requests (HEAD, DELETE, the PUT of a
//! metadata blob) are limited to 15 s each, a read to 15 s until its
//! headers and 15 s between two chunks, a large upload to `timeout=`
//! (default 600 s). An upload stores its small metadata blob first, so an
//! unreachable or hung bucket fails it in under 30 s with
//! [`StoreError::Unavailable`] (a 503), before any metadata row is written.
//!
//! **Credentials** come from the environment only (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`, ...: the
//! client's `from_env`); the `--blobs` URL refuses anything that looks like
//! one, so the URL can be logged.
//!
//! **The bucket is not trusted**: an object's bytes are hashed on every
//! download (`server::blob_body`), on every re-hash and local copy, and
//! before an existing object is taken as the blob a put would create.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, PutMode, PutOptions,
    PutPayload, RetryConfig, WriteMultipart,
};
use tokio::sync::mpsc;

use super::TempBlob;
use crate::digest::{Sha256, Sha256Hasher};
use crate::store::StoreError;

/// Objects up to this size are uploaded with one create-only PUT; larger
/// ones as a multipart upload (which has no create-only mode, see `commit`).
const SINGLE_PUT_MAX: u64 = 64 * 1024 * 1024;
/// Part size of multipart uploads.
const PART: usize = 16 * 1024 * 1024;
/// Downloads of objects up to this size are read whole and verified before
/// a byte is sent (as `blob_body` does with small local blobs).
pub const WHOLE_MAX: u64 = 1024 * 1024;
/// Limit of one small request (HEAD, DELETE, COPY, a PUT of up to
/// [`WHOLE_MAX`] bytes): an upload first stores its small metadata blob,
/// so a bucket that accepts connections but never answers fails it here.
const QUICK_TIMEOUT: Duration = Duration::from_secs(15);
/// Time to an object's response headers, and the longest pause between two
/// chunks of its body (a GET's whole body has no limit: a large download to
/// a slow client may take long).
const READ_STALL: Duration = Duration::from_secs(15);
/// Default limit of a large object's upload (`timeout=` in the URL).
const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_RETRIES: usize = 2;
const RETRY_WINDOW: Duration = Duration::from_secs(10);

/// A parsed `--blobs s3://bucket/prefix?endpoint=URL&region=R[&timeout=SECS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Limit of one large object's upload, in seconds.
    pub timeout_secs: Option<u64>,
}

impl std::str::FromStr for S3Location {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(s).map_err(|e| format!("--blobs {s:?}: {e}"))?;
        if url.scheme() != "s3" {
            return Err(format!("--blobs {s:?}: expected s3://bucket/prefix"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "--blobs: credentials never go in the URL; set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY in the environment"
                    .into(),
            );
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(format!("--blobs {s:?}: no bucket name"));
        }
        let prefix = url.path().trim_matches('/').to_string();
        let mut loc = Self {
            bucket,
            prefix,
            endpoint: None,
            region: None,
            timeout_secs: None,
        };
        for (k, v) in url.query_pairs() {
            match &*k {
                "endpoint" => loc.endpoint = Some(v.into_owned()),
                "region" => loc.region = Some(v.into_owned()),
                "timeout" => {
                    loc.timeout_secs = Some(
                        v.parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| format!("--blobs: timeout={v} is not seconds"))?,
                    )
                }
                other => {
                    return Err(format!(
                        "--blobs: unknown setting {other:?} (endpoint, region and timeout are \
                         known; credentials come from the environment only)"
                    ))
                }
            }
        }
        Ok(loc)
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)?;
        let mut sep = '?';
        for (k, v) in [
            ("endpoint", self.endpoint.clone()),
            ("region", self.region.clone()),
            ("timeout", self.timeout_secs.map(|n| n.to_string())),
        ] {
            if let Some(v) = v {
                write!(f, "{sep}{k}={v}")?;
                sep = '&';
            }
        }
        Ok(())
    }
}

pub(super) struct S3Blobs {
    /// Small requests, each limited to [`QUICK_TIMEOUT`].
    store: Arc<dyn ObjectStore>,
    /// Reads and large uploads: no client-side total limit (bounded by
    /// [`READ_STALL`] and `transfer_timeout` here instead).
    bulk: Arc<dyn ObjectStore>,
    /// What signs download URLs (`--blobs-redirect`): the S3 client itself;
    /// `None` for the in-memory store.
    signer: Option<Arc<AmazonS3>>,
    transfer_timeout: Duration,
    /// Largest object uploaded in one PUT ([`SINGLE_PUT_MAX`]; smaller in
    /// tests, to exercise multipart uploads).
    single_put_max: u64,
    prefix: String,
    label: String,
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// Whether the server refuses a create-only PUT of a key that exists
    /// (checked once, by [`create_only_holds`]): then a PUT alone tells
    /// whether this upload created an object, without a HEAD first.
    create_only: Arc<CreateOnly>,
}

impl Drop for S3Blobs {
    fn drop(&mut self) {
        // may be dropped inside another runtime: never block there
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// `object_store`'s errors as the store's: a missing object is
/// [`StoreError::NotFound`]; everything else is the bucket failing (503).
fn failed(label: &str, what: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { path, .. } => {
            StoreError::NotFound(format!("object {path} is not in {label}"))
        }
        e => {
            // without keys, object_store asks the instance metadata service
            // (a cloud machine's role): say so where that was not meant
            let hint = if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                " (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: credentials were \
                 looked for from the machine's instance role)"
            } else {
                ""
            };
            StoreError::Unavailable(format!(
                "object storage {label} failed while {what}: {e}{hint}"
            ))
        }
    }
}

impl S3Blobs {
    pub(super) fn open(loc: &S3Location) -> Result<Self, StoreError> {
        let label = loc.to_string();
        let build = |timeout: Option<Duration>| {
            let mut client = ClientOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
            client = match timeout {
                Some(t) => client.with_timeout(t),
                None => client.with_timeout_disabled(),
            };
            if std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true" || v == "1") {
                client = client.with_allow_http(true);
            }
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(&loc.bucket)
                .with_client_options(client)
                .with_retry(RetryConfig {
                    backoff: BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(1),
                        base: 2.0,
                    },
                    max_retries: MAX_RETRIES,
                    retry_timeout: RETRY_WINDOW,
                });
            if let Some(e) = &loc.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &loc.region {
                b = b.with_region(r);
            }
            b.build().map(Arc::new).map_err(|e| {
                StoreError::Unsupported(format!("object storage {label} cannot be used: {e}"))
            })
        };
        let store = build(Some(QUICK_TIMEOUT))?;
        let bulk = build(None)?;
        let mut me = Self::with_stores(
            Arc::clone(&store) as Arc<dyn ObjectStore>,
            bulk as Arc<dyn ObjectStore>,
            loc,
            label,
        )?;
        me.signer = Some(store);
        Ok(me)
    }

    /// A URL that lets its holder GET the object of `sha` for `ttl`
    /// (presigned, SigV4 in the query string); `None` when this store
    /// cannot sign.
    pub(super) fn presigned_get(
        &self,
        sha: &Sha256,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let Some(signer) = self.signer.clone() else {
            return Ok(None);
        };
        let key = self.key_of(sha);
        let label = self.label.clone();
        self.run(async move {
            use object_store::signer::Signer;
            signer
                .signed_url(reqwest::Method::GET, &key, ttl)
                .await
                .map(|u| Some(u.to_string()))
                .map_err(|e| failed(&label, "signing a download URL", e))
        })
    }

    /// The same backend over object_store's in-memory store (unit tests:
    /// every operation but the HTTP client's).
    #[cfg(test)]
    pub(super) fn in_memory(prefix: &str) -> Result<Self, StoreError> {
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let loc: S3Location = format!("s3://memory/{prefix}")
            .parse()
            .map_err(StoreError::Internal)?;
        Self::with_stores(Arc::clone(&memory), memory, &loc, "memory".into())
    }

    fn with_stores(
        store: Arc<dyn ObjectStore>,
        bulk: Arc<dyn ObjectStore>,
        loc: &S3Location,
        label: String,
    ) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("airlock-s3")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("starting the S3 client runtime: {e}")))?;
        Ok(Self {
            store,
            bulk,
            signer: None,
            single_put_max: SINGLE_PUT_MAX,
            transfer_timeout: loc
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TRANSFER_TIMEOUT),
            prefix: loc.prefix.clone(),
            handle: rt.handle().clone(),
            rt: Some(rt),
            label,
            create_only: Arc::new(CreateOnly::default()),
        })
    }

    pub(super) fn key_of(&self, sha: &Sha256) -> ObjPath {
        let hex = sha.to_hex();
        let rel = format!("{}/{}/{hex}", &hex[0..2], &hex[2..4]);
        if self.prefix.is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// Run `fut` on this backend's runtime and wait for it, from any thread.
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        let wait = move || rx.recv().expect("the S3 runtime runs as long as the store");
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    pub(super) fn probe(&self) -> Result<(), StoreError> {
        let key = ObjPath::from(format!(
            "{}{}airlock-probe-{}",
            self.prefix,
            if self.prefix.is_empty() { "" } else { "/" },
            std::process::id()
        ));
        let (store, label) = (Arc::clone(&self.store), self.label.clone());
        self.run(async move {
            store
                .put(&key, PutPayload::from_static(b"probe"))
                .await
                .map_err(|e| failed(&label, "writing a probe object", e))?;
            store
                .delete(&key)
                .await
                .map_err(|e| failed(&label, "deleting a probe object", e))
        })
    }

    pub(super) fn exists(&self, sha: &Sha256) -> bool {
        match self.size_of(sha) {
            Ok(_) => true,
            Err(StoreError::NotFound(_)) => false,
            Err(e) => {
                tracing::warn!(sha256 = %sha, error = %e, "object storage: existence check failed");
                false
            }
        }
    }

    /// The first of `shas` without an object (HEADs sent at once); a
    /// lookup that fails counts as missing.
    pub(super) fn first_missing(&self, shas: &[Sha256]) -> Option<Sha256> {
        let store = Arc::clone(&self.store);
        let keys: Vec<(Sha256, ObjPath)> = shas.iter().map(|s| (*s, self.key_of(s))).collect();
        self.run(async move {
            let found = futures_util::future::join_all(
                keys.iter().map(|(_, k)| store.head(k)),
            )
            .await;
            keys.iter().zip(found).find_map(|((sha, _), r)| match r {
                Ok(_) => None,
                Err(object_store::Error::NotFound { .. }) => Some(*sha),
                Err(e) => {
                    tracing::warn!(sha256 = %sha, error = %e, "object storage: existence check failed");
                    Some(*sha)
                }
            })
        })
    }

    pub(super) fn size_of(&self, sha: &Sha256) -> Result<u64, StoreError> {
        let (store, key, label) = (
            Arc::clone(&self.store),
            self.key_of(sha),
            self.label.clone(),
        );
        self.run(async move {
            store
                .head(&key)
                .await
                .map(|m| m.size)
                .map_err(|e| failed(&label, "looking up an object", e))
        })
    }

    /// Size and last modification (Unix seconds) of a stored object; `None`
    /// if there is none.
    pub(super) fn stat(&self, sha: &Sha256) -> Result<Option<(u64, i64)>, StoreError> {
        let (store, key, label) = (
            Arc::clone(&self.store),
            self.key_of(sha),
            self.label.clone(),
        );
        self.run(async move {
            match store.head(&key).await {
                Ok(m) => Ok(Some((m.size, m.last_modified.timestamp()))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(failed(&label, "looking up an object", e)),
            }
        })
    }

    /// Upload a finished temp file as the object of its digest, create-only.
    /// An object already there counts as this blob only once it hashes to
    /// its name; one that does not (altered in the bucket) is replaced.
    pub(super) fn commit(&self, mut temp: TempBlob) -> Result<bool, StoreError> {
        let sha = temp.sha256();
        let size = temp.size;
        drop(temp.file.take());
        let path = temp.path.clone();
        let key = self.key_of(&sha);
        let (quick, bulk, label) = (
            Arc::clone(&self.store),
            Arc::clone(&self.bulk),
            self.label.clone(),
        );
        let limit = self.transfer_timeout;
        let single_put_max = self.single_put_max;
        let (create_only, prefix) = (Arc::clone(&self.create_only), self.prefix.clone());
        let upload = async move {
            let store = if size <= WHOLE_MAX { quick } else { bulk };
            if size <= single_put_max {
                let bytes = Bytes::from(
                    tokio::fs::read(&path)
                        .await
                        .map_err(|e| StoreError::io("reading", &path, e))?,
                );
                // `true` must mean "created now" (a failed database write
                // then removes it): on a server that ignores If-None-Match
                // the object is looked up first as well.
                let holds = match create_only.known() {
                    Some(holds) => holds,
                    // another upload is asking: look up this one meanwhile
                    None if !create_only.start() => false,
                    None => {
                        let answer =
                            create_only_holds(Arc::clone(&store), prefix, label.clone()).await;
                        create_only.finish(answer.as_ref().ok().copied());
                        answer?
                    }
                };
                let there = !holds
                    && match store.head(&key).await {
                        Ok(_) => true,
                        Err(object_store::Error::NotFound { .. }) => false,
                        Err(e) => return Err(failed(&label, "looking up an object", e)),
                    };
                if !there {
                    let create = PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    };
                    match store
                        .put_opts(&key, PutPayload::from(bytes.clone()), create)
                        .await
                    {
                        Ok(_) => return Ok(true),
                        Err(
                            object_store::Error::AlreadyExists { .. }
                            | object_store::Error::Precondition { .. },
                        ) => {}
                        Err(e) => return Err(failed(&label, "storing a file", e)),
                    }
                }
                if hash_object(&store, &key, &label).await? == sha {
                    return Ok(false);
                }
                tracing::warn!(object = %key, "object storage: an object did not hash to its \
                    name and was replaced with the verified bytes");
                store
                    .put(&key, PutPayload::from(bytes))
                    .await
                    .map_err(|e| failed(&label, "replacing an altered object", e))?;
                // it existed (other rows may name it): not "created"
                return Ok(false);
            }
            // Multipart uploads cannot be create-only: look first. The bytes
            // are the same whoever wins a race, so an overwrite is harmless.
            let existed = match hash_object(&store, &key, &label).await {
                Ok(found) if found == sha => return Ok(false),
                Ok(_) => true,
                Err(StoreError::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
            let upload = store
                .put_multipart(&key)
                .await
                .map_err(|e| failed(&label, "starting an upload", e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| StoreError::io("opening", &path, e))?;
            let mut buf = vec![0u8; 1024 * 1024];
            loop {
                let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
                    .await
                    .map_err(|e| StoreError::io("reading", &path, e))?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(2)
                    .await
                    .map_err(|e| failed(&label, "uploading a part", e))?;
                w.write(&buf[..n]);
            }
            w.finish()
                .await
                .map_err(|e| failed(&label, "finishing an upload", e))?;
            Ok(!existed)
        };
        let created = self.run(async move {
            tokio::time::timeout(limit, upload)
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable(String::new())))
        });
        match created {
            Ok(c) => Ok(c), // `temp` is deleted by its Drop
            Err(StoreError::Unavailable(m)) if m.is_empty() => {
                Err(StoreError::Unavailable(format!(
                    "object storage {} did not take a file of {size} bytes within {}s; nothing \
                 was stored",
                    self.label,
                    self.transfer_timeout.as_secs()
                )))
            }
            Err(StoreError::Unavailable(m)) => {
                Err(StoreError::Unavailable(format!("{m}; nothing was stored")))
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn remove(&self, sha: &Sha256) -> Result<(), StoreError> {
        let (store, key, label) = (
            Arc::clone(&self.store),
            self.key_of(sha),
            self.label.clone(),
        );
        self.run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(failed(&label, "deleting an object", e)),
            }
        })
    }

    /// Every object below the prefix but the quarantine (`quarantine/`)
    /// and the create-only probes (`airlock-probe-*`).
    pub(super) fn list(&self) -> Result<Vec<super::Listed>, StoreError> {
        let (store, label) = (Arc::clone(&self.bulk), self.label.clone());
        let prefix = (!self.prefix.is_empty()).then(|| ObjPath::from(self.prefix.as_str()));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        self.run(async move {
            let mut listing = store.list(prefix.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(|e| failed(&label, "listing the bucket", e))?;
                let full = meta.location.to_string();
                let key = full.strip_prefix(&strip).unwrap_or(&full).to_string();
                if key.starts_with("quarantine/") || key.starts_with("airlock-probe-") {
                    continue;
                }
                out.push(super::Listed {
                    sha: blob_of_key(&key),
                    key,
                    size: meta.size,
                    modified: meta.last_modified.timestamp(),
                });
            }
            Ok(out)
        })
    }

    pub(super) fn rehash(&self, sha: &Sha256) -> Result<Sha256, StoreError> {
        let (store, key, label) = (Arc::clone(&self.bulk), self.key_of(sha), self.label.clone());
        self.run(async move { hash_object(&store, &key, &label).await })
    }

    /// Copy an object that does not hash to its name to
    /// `<prefix>/quarantine/<sha256>.<unix seconds>` and delete it.
    pub(super) fn quarantine(&self, sha: &Sha256) -> Result<Option<String>, StoreError> {
        match self.rehash(sha) {
            Ok(actual) if actual == *sha => return Ok(None),
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let key = self.key_of(sha);
        let dest = ObjPath::from(format!(
            "{}{}quarantine/{sha}.{}",
            self.prefix,
            if self.prefix.is_empty() { "" } else { "/" },
            crate::store::now()
        ));
        let (store, label) = (Arc::clone(&self.store), self.label.clone());
        let to = dest.to_string();
        self.run(async move {
            store
                .copy(&key, &dest)
                .await
                .map_err(|e| failed(&label, "quarantining an object", e))?;
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(failed(&label, "quarantining an object", e)),
            }
        })?;
        Ok(Some(format!("{} (bucket {})", to, self.label)))
    }

    /// Append the object's bytes to `temp` (the caller checks the digest).
    pub(super) fn download_into(
        &self,
        sha: &Sha256,
        temp: &mut TempBlob,
    ) -> Result<(), StoreError> {
        let mut rx = self.get(self.key_of(sha), None)?.1;
        loop {
            let (chunk, back) = self.run(async move {
                let c = rx.recv().await;
                (c, rx)
            });
            rx = back;
            match chunk {
                None => return Ok(()),
                Some(Ok(b)) => temp.write_all(&b)?,
                Some(Err(e)) => return Err(e),
            }
        }
    }

    /// Start a GET (of a `range`, if given) on the backend's runtime: the
    /// object's size and ETag, and its bytes through a bounded channel.
    fn get(
        &self,
        key: ObjPath,
        opts: Option<GetOptions>,
    ) -> Result<
        (
            object_store::ObjectMeta,
            mpsc::Receiver<Result<Bytes, StoreError>>,
        ),
        StoreError,
    > {
        let (store, label) = (Arc::clone(&self.bulk), self.label.clone());
        self.run(start_get(store, key, label, opts.unwrap_or_default()))
    }

    /// Open an object for a download: a small one read whole, a large one
    /// as a stream (both verified by `server::blob_body`).
    pub(super) async fn open_read(&self, sha: &Sha256) -> Result<ObjectRead, StoreError> {
        let (store, key, label) = (Arc::clone(&self.bulk), self.key_of(sha), self.label.clone());
        let ranger = Ranger {
            store: Arc::clone(&store),
            key: key.clone(),
            label: label.clone(),
            handle: self.handle.clone(),
        };
        self.handle
            .spawn(async move {
                let (meta, mut rx) = start_get(store, key, label, GetOptions::default()).await?;
                let body = if meta.size <= WHOLE_MAX {
                    let mut whole = Vec::with_capacity(meta.size as usize);
                    while let Some(c) = rx.recv().await {
                        whole.extend_from_slice(&c?);
                    }
                    ObjectBody::Whole(Bytes::from(whole))
                } else {
                    ObjectBody::Stream(rx)
                };
                Ok(ObjectRead {
                    len: meta.size,
                    e_tag: meta.e_tag,
                    body,
                    ranger,
                })
            })
            .await
            .map_err(|e| StoreError::Internal(format!("object read task: {e}")))?
    }
}

/// What is known of the server's create-only writes ([`create_only_holds`]).
#[derive(Default)]
struct CreateOnly(std::sync::atomic::AtomicU8);

impl CreateOnly {
    const UNKNOWN: u8 = 0;
    const ASKING: u8 = 1;
    const HOLDS: u8 = 2;
    const OVERWRITES: u8 = 3;

    fn known(&self) -> Option<bool> {
        match self.0.load(std::sync::atomic::Ordering::SeqCst) {
            Self::HOLDS => Some(true),
            Self::OVERWRITES => Some(false),
            _ => None,
        }
    }

    /// Claim the question; false if someone else is asking it.
    fn start(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.0
            .compare_exchange(Self::UNKNOWN, Self::ASKING, SeqCst, SeqCst)
            .is_ok()
    }

    /// The answer, or `None` to ask again later (the bucket failed).
    fn finish(&self, answer: Option<bool>) {
        let state = match answer {
            Some(true) => Self::HOLDS,
            Some(false) => Self::OVERWRITES,
            None => Self::UNKNOWN,
        };
        self.0.store(state, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Does the server refuse a create-only PUT (`If-None-Match: *`) of a key
/// that exists? Asked once per process (until it gets an answer), with a
/// probe object of its own written twice, then removed in the background.
/// A bucket that cannot be written is an error, as the upload that asked
/// would have met; any other surprise answers no: the safe, slower way.
async fn create_only_holds(
    store: Arc<dyn ObjectStore>,
    prefix: String,
    label: String,
) -> Result<bool, StoreError> {
    let key = ObjPath::from(format!(
        "{prefix}{}airlock-create-probe-{}-{}",
        if prefix.is_empty() { "" } else { "/" },
        std::process::id(),
        crate::store::now()
    ));
    let create = || PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let probe = || PutPayload::from_static(b"probe");
    match store.put_opts(&key, probe(), create()).await {
        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(failed(&label, "storing a file", e)),
    }
    let second = store.put_opts(&key, probe(), create()).await;
    let cleanup = Arc::clone(&store);
    tokio::spawn(async move {
        let _ = cleanup.delete(&key).await;
    });
    let holds = match second {
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => true,
        Ok(_) => false,
        Err(e) => return Err(failed(&label, "storing a file", e)),
    };
    if holds {
        tracing::info!(storage = %label, "object storage refuses create-only writes over existing objects: new files are stored in one request");
    } else {
        tracing::warn!(storage = %label, "object storage overwrites existing objects on create-only writes: every new file is looked up before it is stored");
    }
    Ok(holds)
}

/// GET `key` and forward its bytes into a channel from a task of the
/// current (the backend's) runtime.
async fn start_get(
    store: Arc<dyn ObjectStore>,
    key: ObjPath,
    label: String,
    opts: GetOptions,
) -> Result<
    (
        object_store::ObjectMeta,
        mpsc::Receiver<Result<Bytes, StoreError>>,
    ),
    StoreError,
> {
    let r = tokio::time::timeout(READ_STALL, store.get_opts(&key, opts))
        .await
        .map_err(|_| stalled(&label))?
        .map_err(|e| failed(&label, "reading an object", e))?;
    let meta = r.meta.clone();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut s = r.into_stream();
        loop {
            let c = match tokio::time::timeout(READ_STALL, s.next()).await {
                Ok(Some(c)) => c.map_err(|e| failed(&label, "reading an object", e)),
                Ok(None) => break,
                Err(_) => Err(stalled(&label)),
            };
            let stop = c.is_err();
            if tx.send(c).await.is_err() || stop {
                break;
            }
        }
    });
    Ok((meta, rx))
}

fn stalled(label: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "object storage {label} stopped answering (nothing for {}s)",
        READ_STALL.as_secs()
    ))
}

async fn hash_object(
    store: &dyn ObjectStore,
    key: &ObjPath,
    label: &str,
) -> Result<Sha256, StoreError> {
    let r = tokio::time::timeout(READ_STALL, store.get(key))
        .await
        .map_err(|_| stalled(label))?
        .map_err(|e| failed(label, "reading an object", e))?;
    let mut s = r.into_stream();
    let mut h = Sha256Hasher::default();
    loop {
        match tokio::time::timeout(READ_STALL, s.next()).await {
            Ok(Some(c)) => h.update(&c.map_err(|e| failed(label, "reading an object", e))?),
            Ok(None) => return Ok(h.finish()),
            Err(_) => return Err(stalled(label)),
        }
    }
}

/// The blob a key below the prefix names: `aa/bb/<sha256>`, lower-case,
/// with prefixes that match the digest.
fn blob_of_key(key: &str) -> Option<Sha256> {
    let mut parts = key.split('/');
    let (a, b, hex) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hex.len() != 64 || !hex.starts_with(&format!("{a}{b}")) {
        return None;
    }
    if a.len() != 2 || b.len() != 2 || !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    hex.parse().ok()
}

/// An object being read for a download.
pub struct ObjectRead {
    pub len: u64,
    pub e_tag: Option<String>,
    pub body: ObjectBody,
    ranger: Ranger,
}

pub enum ObjectBody {
    /// A small object, read whole (not yet verified).
    Whole(Bytes),
    /// A large object's bytes as they arrive.
    Stream(mpsc::Receiver<Result<Bytes, StoreError>>),
}

/// Reads a byte range of the same object later (after the whole was verified).
struct Ranger {
    store: Arc<dyn ObjectStore>,
    key: ObjPath,
    label: String,
    handle: tokio::runtime::Handle,
}

impl ObjectRead {
    /// GET bytes `start..end` of this same version of the object (its ETag
    /// must still match, so a replaced object is not mixed in).
    pub async fn range(
        &self,
        start: u64,
        end: u64,
    ) -> Result<mpsc::Receiver<Result<Bytes, StoreError>>, StoreError> {
        let r = &self.ranger;
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            if_match: self.e_tag.clone(),
            ..GetOptions::default()
        };
        let fut = start_get(Arc::clone(&r.store), r.key.clone(), r.label.clone(), opts);
        r.handle
            .spawn(fut)
            .await
            .map_err(|e| StoreError::Internal(format!("object read task: {e}")))?
            .map(|(_, rx)| rx)
    }
}

/// Errors of a stream as `io::Error`s (for response bodies).
pub fn io_error(e: StoreError) -> io::Error {
    io::Error::other(e)
}

#[cfg(test)]
#[path = "../../../tests/common/s3.rs"]
mod s3_server;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation on object_store's in-memory store: puts (one and
    /// multipart), create-only puts of existing bytes, verified reads and
    /// copies, an object altered behind the store's back found, healed and
    /// quarantined, removal.
    #[test]
    fn operations_in_memory() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = super::super::BlobStore::in_memory(dir.path()).expect("open");
        if let super::super::Backend::S3(s) = &mut store.backend {
            s.single_put_max = 1024 * 1024;
        }
        store.probe_writable().expect("probe");
        let small = b"small blob".to_vec();
        let big: Vec<u8> = (0..PART + 3 * 1024 * 1024)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        for bytes in [&small, &big] {
            let mut t = store.create_temp().expect("temp");
            t.write_all(bytes).expect("write");
            let sha = t.sha256();
            assert!(!store.exists(&sha));
            assert!(store.commit(t).expect("commit"), "created");
            assert!(store.exists(&sha));
            assert_eq!(store.size_of(&sha).expect("size"), bytes.len() as u64);
            assert_eq!(store.rehash(&sha).expect("rehash"), sha);
            let copy = store.local_copy(&sha).expect("copy");
            assert_eq!(&std::fs::read(copy.path()).expect("read"), bytes);
            let (again, created) = store.put_bytes(bytes).expect("put");
            assert_eq!((again, created), (sha, false));
        }
        let sha = Sha256::of(&small);
        let alter = |store: &super::super::BlobStore| {
            let super::super::Backend::S3(s) = &store.backend else {
                unreachable!("an object store")
            };
            let (inner, key) = (Arc::clone(&s.store), s.key_of(&sha));
            s.run(async move { inner.put(&key, b"SMALL blob".to_vec().into()).await })
                .expect("alter");
        };
        alter(&store);
        assert_ne!(store.rehash(&sha).expect("rehash"), sha);
        assert!(store.local_copy(&sha).is_err(), "a copy is verified");
        let (_, created) = store.put_bytes(&small).expect("put heals");
        assert!(!created, "it existed");
        assert_eq!(store.rehash(&sha).expect("rehash"), sha);
        alter(&store);
        let to = store.quarantine(&sha).expect("quarantine").expect("moved");
        assert!(to.contains("quarantine/"), "{to}");
        assert!(!store.exists(&sha));
        store.remove(&Sha256::of(&big)).expect("remove");
        assert!(!store.exists(&Sha256::of(&big)));
    }

    /// Every operation against a real S3 server (s3s-fs, signatures
    /// checked), a multipart upload included.
    #[test]
    fn operations_against_a_real_s3_server() {
        let server = s3_server::S3Server::start();
        for (k, v) in server.env() {
            std::env::set_var(k, v);
        }
        let loc: S3Location = server.blobs_url("unit").parse().expect("location");
        let dir = tempfile::tempdir().expect("tmp");
        let mut store =
            super::super::BlobStore::open_at(dir.path(), &super::super::BlobLocation::S3(loc))
                .expect("open");
        if let super::super::Backend::S3(s) = &mut store.backend {
            s.single_put_max = 1024 * 1024;
        }
        store.probe_writable().expect("probe");
        let small = b"small blob".to_vec();
        let big: Vec<u8> = (0..PART + 3 * 1024 * 1024)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        for bytes in [&small, &big] {
            let mut t = store.create_temp().expect("temp");
            t.write_all(bytes).expect("write");
            let sha = t.sha256();
            assert!(!store.exists(&sha));
            assert!(store.commit(t).expect("commit"), "created");
            assert!(store.exists(&sha));
            assert_eq!(store.size_of(&sha).expect("size"), bytes.len() as u64);
            assert_eq!(store.rehash(&sha).expect("rehash"), sha);
            let copy = store.local_copy(&sha).expect("copy");
            assert_eq!(&std::fs::read(copy.path()).expect("read"), bytes);
            // the same bytes again: not created, still there
            let (again, created) = store.put_bytes(bytes).expect("put");
            assert_eq!(again, sha);
            assert!(!created);
            assert_eq!(store.quarantine(&sha).expect("sound"), None);
        }
        // s3s-fs refuses create-only writes over an object: found out by
        // the first store, so the later ones send no HEAD first
        if let super::super::Backend::S3(s) = &store.backend {
            assert_eq!(s.create_only.known(), Some(true));
        }
        // altered behind the store's back: found, quarantined, put back right
        let sha = Sha256::of(&small);
        let file = server.object_file("unit", &sha.to_hex());
        std::fs::write(&file, b"SMALL blob").expect("alter");
        assert_ne!(store.rehash(&sha).expect("rehash"), sha);
        assert!(store.local_copy(&sha).is_err(), "a copy is verified");
        let (_, created) = store.put_bytes(&small).expect("put heals");
        assert!(!created, "it existed");
        assert_eq!(store.rehash(&sha).expect("rehash"), sha);
        std::fs::write(&file, b"SMALL blob").expect("alter");
        let to = store.quarantine(&sha).expect("quarantine").expect("moved");
        assert!(to.contains("quarantine/"), "{to}");
        assert!(!store.exists(&sha));
        store.remove(&Sha256::of(&big)).expect("remove");
        assert!(!store.exists(&Sha256::of(&big)));
        store
            .remove(&Sha256::of(&big))
            .expect("removing twice is fine");
        assert!(dir.path().join(super::super::LOCATION_FILE).is_file());
    }

    #[test]
    fn locations_parse_and_print_without_secrets() {
        let l: S3Location = "s3://files/prod/a?endpoint=http://127.0.0.1:9000&region=us-east-1"
            .parse()
            .expect("parse");
        assert_eq!(l.bucket, "files");
        assert_eq!(l.prefix, "prod/a");
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            l.to_string(),
            "s3://files/prod/a?endpoint=http://127.0.0.1:9000&region=us-east-1"
        );
        for bad in [
            "s3://key:secret@files/p",
            "s3://files/p?secret_access_key=x",
            "s3:///p",
            "s3://files/p?timeout=0",
        ] {
            assert!(bad.parse::<S3Location>().is_err(), "{bad}");
        }
    }
}
