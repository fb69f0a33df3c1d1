//! Response bodies read from the blob store.
//!
//! A blob is opened and measured in one trip to the blocking pool; if it is
//! small (most wheels and every metadata file) it is read whole in that same
//! trip and sent as one buffer. Larger ones are streamed in chunks read with
//! positioned reads straight into the body's buffer: one trip and one copy
//! per chunk, and the buffer is reused once the previous chunk has been
//! written out (`BytesMut::reserve` reclaims it), so a long download does not
//! allocate per chunk. A trip is taken per chunk rather than one thread per
//! download, so slow clients cannot occupy the blocking pool.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use bytes::{Bytes, BytesMut};

/// Blobs up to this size are read whole when opened.
const WHOLE_MAX: u64 = 1024 * 1024;
/// Read size for larger blobs.
const CHUNK: usize = 512 * 1024;

/// An opened blob: its length and either its bytes or the open file.
pub(super) struct OpenBlob {
    pub len: u64,
    content: Content,
}

enum Content {
    Whole(Bytes),
    File(Arc<File>),
}

/// Open the blob at `path` (and read it if it is small).
pub(super) async fn open(path: PathBuf) -> io::Result<OpenBlob> {
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        let content = if len <= WHOLE_MAX {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, 0)?;
            Content::Whole(Bytes::from(buf))
        } else {
            Content::File(Arc::new(file))
        };
        Ok(OpenBlob { len, content })
    })
    .await
    .map_err(io::Error::other)?
}

impl OpenBlob {
    /// A body of `count` bytes from `start` (both within `len`).
    pub fn body(self, start: u64, count: u64) -> Body {
        match self.content {
            Content::Whole(bytes) => {
                let (start, end) = (start as usize, (start + count) as usize);
                Body::from(bytes.slice(start.min(bytes.len())..end.min(bytes.len())))
            }
            Content::File(file) => {
                let state = Chunks {
                    file,
                    pos: start,
                    end: start + count,
                    buf: BytesMut::new(),
                };
                Body::from_stream(futures_util::stream::unfold(state, Chunks::next))
            }
        }
    }
}

struct Chunks {
    file: Arc<File>,
    pos: u64,
    end: u64,
    buf: BytesMut,
}

impl Chunks {
    async fn next(mut self) -> Option<(io::Result<Bytes>, Self)> {
        if self.pos >= self.end {
            return None;
        }
        let want = (self.end - self.pos).min(CHUNK as u64) as usize;
        let (file, pos, mut buf) = (
            Arc::clone(&self.file),
            self.pos,
            std::mem::take(&mut self.buf),
        );
        let read = tokio::task::spawn_blocking(move || {
            buf.clear();
            buf.reserve(CHUNK);
            buf.resize(want, 0);
            file.read_exact_at(&mut buf[..], pos).map(|()| buf)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        match read {
            Ok(mut buf) => {
                let chunk = buf.split().freeze();
                self.pos += want as u64;
                self.buf = buf;
                Some((Ok(chunk), self))
            }
            Err(e) => {
                tracing::error!(error = %e, "reading a stored file failed mid-response");
                // End the stream after the error: the response is cut short
                // and the client sees a truncated body, never wrong bytes.
                self.pos = self.end;
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
            let blob = open(path.clone()).await.expect("open");
            assert_eq!(blob.len, n as u64);
            assert_eq!(collect(blob.body(0, n as u64)).await, bytes, "whole {n}");
            if n > 10 {
                let (s, c) = (n as u64 / 3, n as u64 / 2);
                let blob = open(path).await.expect("open");
                let got = collect(blob.body(s, c)).await;
                assert_eq!(got, &bytes[s as usize..(s + c) as usize], "range of {n}");
            }
        }
    }

    #[tokio::test]
    async fn a_missing_blob_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(open(dir.path().join("nope")).await.is_err());
    }
}
