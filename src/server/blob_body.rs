//! Response bodies read from the blob store.
//!
//! A blob is opened and measured in one trip to the blocking pool; if it is
//! small (most wheels and every metadata file) it is read whole in that same
//! trip and sent as one buffer. Larger ones are streamed in chunks read with
//! positioned reads straight into the body's buffer: one trip and one copy
//! per chunk. The next chunk is read while the current one is written out
//! (one read ahead, never more), and two buffers take turns: a buffer is
//! reused once its chunk has been written (`BytesMut::reserve` reclaims it),
//! so a long download does not allocate per chunk. A trip is taken per chunk
//! rather than one thread per download, so slow clients cannot occupy the
//! blocking pool.
//!
//! **Nothing is served that does not hash to its name.** A blob altered on
//! disk behind airlock's back must not reach a client as the file:
//! - a small blob is hashed when it is read; a mismatch is an error before
//!   a byte is sent ([`OpenError::Corrupt`]);
//! - a whole large blob is hashed chunk by chunk on the blocking pool as it
//!   is streamed, and its last chunk is sent only if the digest matches: a
//!   mismatch ends the body with an error, so the client gets a body short
//!   of its `Content-Length` (every client treats that as a failed
//!   download), never the altered file;
//! - a range of a large blob is sent only after the whole blob has been
//!   verified ([`OpenBlob::verify_whole`]); the result is remembered per file
//!   identity (device, inode, size, mtime and ctime: any write changes the
//!   ctime, which user space cannot set back), so repeated ranges of an
//!   unchanged file are not re-hashed.
//!
//! Objects in a bucket (`--blobs s3://`) get the same checks: a small one
//! is read whole and hashed before a byte is sent; a large one is hashed as
//! it streams and its last chunk is held back until the digest matches; a
//! range is sent only after the whole object was read and verified, and is
//! then fetched with `If-Match` on the verified object's ETag, so a
//! replaced object is never mixed in. A small object this node already
//! read and verified is served from its memory (`store::blobs::read_cache`).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use ring::digest::{Context, SHA256};

use crate::digest::Sha256;
use crate::store::blobs::s3::{ObjectBody, ObjectRead};
use crate::store::blobs::BlobRead;
use crate::store::StoreError;

/// Blobs up to this size are read whole when opened.
const WHOLE_MAX: u64 = 1024 * 1024;
/// Read size for larger blobs.
const CHUNK: usize = 512 * 1024;

/// Identities of large blobs verified whole (for range requests); cleared
/// when it reaches this many entries.
const VERIFIED_MAX: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub(super) enum OpenError {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The bytes on disk do not hash to the blob's name.
    #[error("stored bytes hash to {actual}, not to their name {expected}")]
    Corrupt { expected: Sha256, actual: Sha256 },
    /// The object storage failed or cannot be reached.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::NotFound(m) => Self::Io(io::Error::new(io::ErrorKind::NotFound, m)),
            other => Self::Io(io::Error::other(other)),
        }
    }
}

/// Run when a large blob is found altered while it streams (the mirror
/// quarantines its cached copy so the next request fetches it again).
pub(super) type OnCorrupt = Box<dyn FnOnce() + Send + Sync + 'static>;

/// An opened blob: its length and either its (verified) bytes or the open file.
pub(super) struct OpenBlob {
    pub len: u64,
    sha: Sha256,
    content: Content,
    on_corrupt: Option<OnCorrupt>,
}

enum Content {
    Whole(Bytes),
    File(Arc<File>),
    /// A large object, its bytes arriving on `rx` (taken by the first
    /// whole-object read: a body or `verify_whole`).
    Object {
        read: ObjectRead,
        rx: Mutex<Option<ObjectRx>>,
    },
}

type ObjectRx = tokio::sync::mpsc::Receiver<Result<Bytes, StoreError>>;

/// Open a blob as the store hands it out: a local file or an object.
pub(super) async fn open_read(read: BlobRead, sha: Sha256) -> Result<OpenBlob, OpenError> {
    let mut obj = match read {
        BlobRead::File(path) => return open(path, sha).await,
        BlobRead::Object(o) => o,
        // hashed when it entered the node's memory, which is trusted
        BlobRead::Verified(bytes) => {
            return Ok(OpenBlob {
                len: bytes.len() as u64,
                sha,
                content: Content::Whole(bytes),
                on_corrupt: None,
            })
        }
    };
    let body = std::mem::replace(&mut obj.body, ObjectBody::Whole(Bytes::new()));
    let content = match body {
        ObjectBody::Whole(bytes) => {
            let actual = Sha256::of(&bytes);
            if actual != sha || bytes.len() as u64 != obj.len {
                return Err(OpenError::Corrupt {
                    expected: sha,
                    actual,
                });
            }
            Content::Whole(bytes)
        }
        ObjectBody::Stream(rx) => Content::Object {
            read: obj,
            rx: Mutex::new(Some(rx)),
        },
    };
    let len = match &content {
        Content::Whole(b) => b.len() as u64,
        Content::Object { read, .. } => read.len,
        Content::File(_) => unreachable!("objects only"),
    };
    Ok(OpenBlob {
        len,
        sha,
        content,
        on_corrupt: None,
    })
}

/// Open the blob named `sha` at `path` (read and verified if it is small).
pub(super) async fn open(path: PathBuf, sha: Sha256) -> Result<OpenBlob, OpenError> {
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        let content = if len <= WHOLE_MAX {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, 0)?;
            let actual = Sha256::of(&buf);
            if actual != sha {
                return Err(OpenError::Corrupt {
                    expected: sha,
                    actual,
                });
            }
            Content::Whole(Bytes::from(buf))
        } else {
            Content::File(Arc::new(file))
        };
        Ok(OpenBlob {
            len,
            sha,
            content,
            on_corrupt: None,
        })
    })
    .await
    .map_err(io::Error::other)?
}

/// What identifies one version of a file's content on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(file: &File) -> io::Result<Self> {
        let m = file.metadata()?;
        Ok(Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

fn verified() -> &'static Mutex<HashMap<Sha256, Stamp>> {
    static VERIFIED: OnceLock<Mutex<HashMap<Sha256, Stamp>>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(HashMap::new()))
}

impl OpenBlob {
    /// Call `f` (on the blocking pool) if the streamed body finds the blob
    /// altered.
    pub fn on_corrupt(mut self, f: OnCorrupt) -> Self {
        self.on_corrupt = Some(f);
        self
    }

    /// Make sure the whole blob hashes to its name before a part of it is
    /// sent (small blobs were verified when read).
    pub async fn verify_whole(&self) -> Result<(), OpenError> {
        let file = match &self.content {
            Content::Whole(_) => return Ok(()),
            Content::File(file) => file,
            Content::Object { read, rx } => {
                let rx = rx.lock().expect("object rx").take();
                let Some(mut rx) = rx else {
                    return Ok(()); // verified by an earlier call
                };
                let mut ctx = Context::new(&SHA256);
                let mut seen = 0u64;
                while let Some(c) = rx.recv().await {
                    let c = c?;
                    seen += c.len() as u64;
                    ctx.update(&c);
                }
                let actual = Sha256::from_ring(ctx.finish());
                if actual != self.sha || seen != read.len {
                    return Err(OpenError::Corrupt {
                        expected: self.sha,
                        actual,
                    });
                }
                return Ok(());
            }
        };
        let (file, sha) = (Arc::clone(file), self.sha);
        tokio::task::spawn_blocking(move || {
            let before = Stamp::of(&file)?;
            if verified().lock().expect("verified").get(&sha) == Some(&before) {
                return Ok(());
            }
            let mut ctx = Context::new(&SHA256);
            let mut buf = vec![0u8; CHUNK];
            let mut pos = 0u64;
            while pos < before.size {
                let want = (before.size - pos).min(CHUNK as u64) as usize;
                file.read_exact_at(&mut buf[..want], pos)?;
                ctx.update(&buf[..want]);
                pos += want as u64;
            }
            let actual = Sha256::from_ring(ctx.finish());
            if actual != sha {
                return Err(OpenError::Corrupt {
                    expected: sha,
                    actual,
                });
            }
            // Remembered only if nothing changed the file while it was read.
            if Stamp::of(&file)? == before {
                let mut v = verified().lock().expect("verified");
                if v.len() >= VERIFIED_MAX {
                    v.clear();
                }
                v.insert(sha, before);
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)?
    }

    /// A body of `count` bytes from `start` (both within `len`). The whole
    /// blob is verified as it streams; a range of a large one must have
    /// passed [`OpenBlob::verify_whole`] first.
    pub fn body(self, start: u64, count: u64) -> Body {
        match self.content {
            Content::Whole(bytes) => {
                let (start, end) = (start as usize, (start + count) as usize);
                Body::from(bytes.slice(start.min(bytes.len())..end.min(bytes.len())))
            }
            Content::File(file) => {
                let whole = start == 0 && count == self.len;
                let mut state = Chunks {
                    file,
                    pos: start,
                    end: start + count,
                    pending: None,
                    older: BytesMut::new(),
                    check: whole.then(|| Check {
                        sha: self.sha,
                        ctx: Context::new(&SHA256),
                        on_corrupt: self.on_corrupt,
                    }),
                };
                state.read_ahead(BytesMut::new());
                Body::from_stream(futures_util::stream::unfold(state, Chunks::next))
            }
            Content::Object { read, rx } => {
                let rx = rx.into_inner().expect("object rx");
                match rx {
                    Some(rx) if start == 0 && count == self.len => {
                        let state = Held {
                            rx,
                            ctx: Context::new(&SHA256),
                            held: None,
                            seen: 0,
                            len: self.len,
                            sha: self.sha,
                            on_corrupt: self.on_corrupt,
                            done: false,
                        };
                        Body::from_stream(futures_util::stream::unfold(state, Held::next))
                    }
                    // a range, after `verify_whole`: the same object version
                    _ => {
                        use futures_util::StreamExt;
                        let stream = futures_util::stream::once(async move {
                            read.range(start, start + count).await
                        })
                        .flat_map(|r| match r {
                            Ok(rx) => futures_util::stream::unfold(rx, |mut rx| async move {
                                rx.recv().await.map(|c| (c.map_err(io::Error::other), rx))
                            })
                            .boxed(),
                            Err(e) => {
                                futures_util::stream::once(async move { Err(io::Error::other(e)) })
                                    .boxed()
                            }
                        });
                        Body::from_stream(stream)
                    }
                }
            }
        }
    }
}

/// A whole object's body: hashed as it arrives, one chunk held back until
/// the end, which is sent only if the whole object hashes to its name.
struct Held {
    rx: ObjectRx,
    ctx: Context,
    held: Option<Bytes>,
    seen: u64,
    len: u64,
    sha: Sha256,
    on_corrupt: Option<OnCorrupt>,
    done: bool,
}

impl Held {
    async fn next(mut self) -> Option<(io::Result<Bytes>, Self)> {
        loop {
            if self.done {
                return None;
            }
            match self.rx.recv().await {
                Some(Ok(b)) => {
                    self.ctx.update(&b);
                    self.seen += b.len() as u64;
                    if let Some(prev) = self.held.replace(b) {
                        return Some((Ok(prev), self));
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    tracing::error!(error = %e, "reading a stored object failed mid-response");
                    return Some((Err(io::Error::other(e)), self));
                }
                None => {
                    self.done = true;
                    let actual = Sha256::from_ring(self.ctx.clone().finish());
                    if actual == self.sha && self.seen == self.len {
                        return self.held.take().map(|h| (Ok(h), self));
                    }
                    crate::metrics::count_blob_integrity_failure();
                    tracing::error!(expected = %self.sha, %actual, "stored object altered in \
                        the bucket: the response is cut short before its last chunk");
                    if let Some(f) = self.on_corrupt.take() {
                        let _ = tokio::task::spawn_blocking(f).await;
                    }
                    let e = OpenError::Corrupt {
                        expected: self.sha,
                        actual,
                    };
                    return Some((Err(io::Error::other(e)), self));
                }
            }
        }
    }
}

struct Chunks {
    file: Arc<File>,
    /// Where the next read starts.
    pos: u64,
    end: u64,
    /// The read of the chunk to send next, if any is left.
    pending: Option<tokio::task::JoinHandle<io::Result<ChunkRead>>>,
    /// The buffer of the chunk sent before the last one: written out by
    /// the time it is needed again, so its memory can be reclaimed.
    older: BytesMut,
    /// For a whole-blob body: the expected digest and the hash of the
    /// chunks read so far (handed from one chunk's read to the next).
    check: Option<Check>,
}

/// The running verification of a whole-blob body.
struct Check {
    sha: Sha256,
    ctx: Context,
    on_corrupt: Option<OnCorrupt>,
}

/// One chunk read (and hashed) on the blocking pool.
struct ChunkRead {
    buf: BytesMut,
    check: Option<Check>,
}

impl Chunks {
    /// Start reading the chunk at `pos` into `buf`.
    fn read_ahead(&mut self, mut buf: BytesMut) {
        if self.pos >= self.end {
            self.pending = None;
            return;
        }
        let want = (self.end - self.pos).min(CHUNK as u64) as usize;
        let (file, pos) = (Arc::clone(&self.file), self.pos);
        self.pos += want as u64;
        let last = self.pos >= self.end;
        let mut check = self.check.take();
        self.pending = Some(tokio::task::spawn_blocking(move || {
            buf.clear();
            buf.reserve(CHUNK);
            buf.resize(want, 0);
            file.read_exact_at(&mut buf[..], pos)?;
            if let Some(c) = &mut check {
                c.ctx.update(&buf[..]);
                if last {
                    let actual = Sha256::from_ring(c.ctx.clone().finish());
                    if actual != c.sha {
                        if let Some(f) = c.on_corrupt.take() {
                            f();
                        }
                        return Err(io::Error::other(OpenError::Corrupt {
                            expected: c.sha,
                            actual,
                        }));
                    }
                }
            }
            Ok(ChunkRead { buf, check })
        }));
    }

    async fn next(mut self) -> Option<(io::Result<Bytes>, Self)> {
        let read = self
            .pending
            .take()?
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        match read {
            Ok(ChunkRead { mut buf, check }) => {
                self.check = check;
                let chunk = buf.split().freeze();
                let next = std::mem::replace(&mut self.older, buf);
                self.read_ahead(next);
                Some((Ok(chunk), self))
            }
            Err(e) => {
                // A read error, or the last chunk withheld because the
                // whole blob did not hash to its name.
                if e.get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<OpenError>().is_some())
                {
                    crate::metrics::count_blob_integrity_failure();
                }
                tracing::error!(error = %e, "reading a stored file failed mid-response");
                // End the stream after the error: the response is cut short
                // and the client sees a truncated body, never wrong bytes.
                self.pos = self.end;
                self.pending = None;
                Some((Err(e), self))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    async fn collect(body: Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_and_large_blobs_and_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in [
            0,
            1,
            1000,
            WHOLE_MAX as usize,
            WHOLE_MAX as usize + 1,
            3 * CHUNK + 17,
        ] {
            let bytes = data(n);
            let path = dir.path().join(format!("b{n}"));
            std::fs::write(&path, &bytes).expect("write");
            let sha = Sha256::of(&bytes);
            let blob = open(path.clone(), sha).await.expect("open");
            assert_eq!(blob.len, n as u64);
            assert_eq!(collect(blob.body(0, n as u64)).await, bytes, "whole {n}");
            if n > 10 {
                let (s, c) = (n as u64 / 3, n as u64 / 2);
                let blob = open(path, sha).await.expect("open");
                blob.verify_whole().await.expect("verified");
                let got = collect(blob.body(s, c)).await;
                assert_eq!(got, &bytes[s as usize..(s + c) as usize], "range of {n}");
            }
        }
    }

    #[tokio::test]
    async fn a_blob_cut_short_ends_the_body_with_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b");
        let n = 4 * CHUNK;
        std::fs::write(&path, data(n)).expect("write");
        let blob = open(path.clone(), Sha256::of(&data(n)))
            .await
            .expect("open");
        // The file shrinks after it was opened and measured.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(CHUNK as u64 + 10))
            .expect("truncate");
        let got = axum::body::to_bytes(blob.body(0, n as u64), usize::MAX).await;
        assert!(got.is_err(), "a short read is an error, not short data");
    }

    #[tokio::test]
    async fn a_missing_blob_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(open(dir.path().join("nope"), Sha256::of(b""))
            .await
            .is_err());
    }

    /// Alter one byte of the file at `path` in place (same length).
    fn flip(path: &std::path::Path, at: u64) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open for writing");
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).expect("read");
        b[0] ^= 0x55;
        f.write_all_at(&b, at).expect("write");
    }

    #[tokio::test]
    async fn an_altered_small_blob_is_refused_before_a_byte_is_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b");
        let bytes = data(10_000);
        std::fs::write(&path, &bytes).expect("write");
        let sha = Sha256::of(&bytes);
        assert!(open(path.clone(), sha).await.is_ok());
        flip(&path, 5_000);
        match open(path, sha).await {
            Err(OpenError::Corrupt { expected, actual }) => {
                assert_eq!(expected, sha);
                assert_ne!(actual, sha);
            }
            other => panic!("expected Corrupt, got {:?}", other.map(|b| b.len)),
        }
    }

    #[tokio::test]
    async fn an_altered_large_blob_is_cut_short_before_its_last_chunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b");
        let n = 3 * CHUNK + 100;
        let bytes = data(n);
        std::fs::write(&path, &bytes).expect("write");
        let sha = Sha256::of(&bytes);
        // Altered in the first chunk: the client must not get the whole
        // (altered) file; the stream ends with an error before the end.
        flip(&path, 10);
        let blob = open(path.clone(), sha).await.expect("open");
        let mut stream = blob.body(0, n as u64).into_data_stream();
        let mut received = 0usize;
        let mut failed = false;
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            match chunk {
                Ok(c) => received += c.len(),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "the body ends with an error");
        assert!(received < n, "{received} of {n} bytes sent");
        assert!(received <= n - 100, "the last chunk is withheld");
        // A range of it is refused up front.
        let blob = open(path.clone(), sha).await.expect("open");
        assert!(matches!(
            blob.verify_whole().await,
            Err(OpenError::Corrupt { .. })
        ));
        // Restored, it streams whole and its ranges verify.
        flip(&path, 10);
        let blob = open(path.clone(), sha).await.expect("open");
        assert_eq!(collect(blob.body(0, n as u64)).await, bytes);
        let blob = open(path.clone(), sha).await.expect("open");
        blob.verify_whole().await.expect("verified");
    }

    #[tokio::test]
    async fn a_verified_range_is_checked_again_after_the_file_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b");
        let n = 2 * CHUNK + 7;
        let bytes = data(n);
        std::fs::write(&path, &bytes).expect("write");
        let sha = Sha256::of(&bytes);
        let blob = open(path.clone(), sha).await.expect("open");
        blob.verify_whole().await.expect("verified and remembered");
        // Altered after it was remembered: the ctime moved on, so the
        // remembered verdict does not apply.
        flip(&path, (n - 1) as u64);
        let blob = open(path.clone(), sha).await.expect("open");
        assert!(matches!(
            blob.verify_whole().await,
            Err(OpenError::Corrupt { .. })
        ));
    }
}
