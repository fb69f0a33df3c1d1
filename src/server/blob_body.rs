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
                let mut state = Chunks {
                    file,
                    pos: start,
                    end: start + count,
                    pending: None,
                    older: BytesMut::new(),
                };
                state.read_ahead(BytesMut::new());
                Body::from_stream(futures_util::stream::unfold(state, Chunks::next))
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
    pending: Option<tokio::task::JoinHandle<io::Result<BytesMut>>>,
    /// The buffer of the chunk sent before the last one: written out by
    /// the time it is needed again, so its memory can be reclaimed.
    older: BytesMut,
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
        self.pending = Some(tokio::task::spawn_blocking(move || {
            buf.clear();
            buf.reserve(CHUNK);
            buf.resize(want, 0);
            file.read_exact_at(&mut buf[..], pos).map(|()| buf)
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
            Ok(mut buf) => {
                let chunk = buf.split().freeze();
                let next = std::mem::replace(&mut self.older, buf);
                self.read_ahead(next);
                Some((Ok(chunk), self))
            }
            Err(e) => {
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
    async fn a_blob_cut_short_ends_the_body_with_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b");
        let n = 4 * CHUNK;
        std::fs::write(&path, data(n)).expect("write");
        let blob = open(path.clone()).await.expect("open");
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
        assert!(open(dir.path().join("nope")).await.is_err());
    }
}
