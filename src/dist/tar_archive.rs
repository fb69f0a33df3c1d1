//! Bounded scan of a `.tar.gz` sdist for its top-level `PKG-INFO`.
//!
//! A tar.gz can only be read front to back, so the scan stops as soon as the
//! first `TOP/PKG-INFO` is found, and the whole scan is capped by entry count
//! and by decompressed bytes. The tar crate is used in raw mode so that GNU
//! long-name and PAX records are read here through small caps too (the
//! crate's own handling buffers them whole, whatever their size).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use flate2::read::GzDecoder;
use tar::{Archive, EntryType, PaxExtensions};

use super::entry_path::safe_components;
use super::error::DistError;
use super::inspect::{FoundMetadata, Limits};

/// Largest GNU long-name or PAX record accepted; real ones are tiny.
const MAX_EXTENSION_RECORD: u64 = 64 * 1024;

/// Find `TOP/PKG-INFO` and read it. `expected` is only used in the message
/// when none is found.
pub(super) fn find_pkg_info(
    file: File,
    limits: &Limits,
    expected: &str,
) -> Result<FoundMetadata, DistError> {
    let tripped = Rc::new(Cell::new(false));
    let reader = LimitedReader {
        inner: GzDecoder::new(BufReader::new(file)),
        remaining: limits.max_decompressed,
        tripped: Rc::clone(&tripped),
    };
    let mut archive = Archive::new(reader);
    let corrupt = |e: io::Error| {
        if tripped.get() {
            DistError::TooMuchData {
                limit: limits.max_decompressed,
            }
        } else {
            DistError::NotTarGz(e.to_string())
        }
    };
    let entries = archive.entries().map_err(corrupt)?.raw(true);
    let mut pending = PendingExtensions::default();
    for (index, entry) in entries.enumerate() {
        if index >= limits.max_entries {
            return Err(DistError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(corrupt)?;
        let header_size = entry.header().entry_size().map_err(corrupt)?;
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() {
            let mut name = read_extension(&mut entry, header_size).map_err(corrupt)?;
            while name.last() == Some(&0) {
                name.pop();
            }
            pending.long_name = Some(name);
            continue;
        }
        if kind.is_pax_local_extensions() {
            let record = read_extension(&mut entry, header_size).map_err(corrupt)?;
            pending.apply_pax(&record)?;
            continue;
        }
        if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
            // Link targets and global defaults do not affect which member
            // is PKG-INFO; still read them through the cap.
            read_extension(&mut entry, header_size).map_err(corrupt)?;
            continue;
        }
        let extensions = std::mem::take(&mut pending);
        if let Some(pax_size) = extensions.size {
            if pax_size != header_size {
                return Err(DistError::NotTarGz(format!(
                    "a PAX record gives a member size of {pax_size} bytes, different from its \
                     header's {header_size}; such archives are not accepted"
                )));
            }
        }
        let header_path = entry.header().path_bytes().into_owned();
        let path = extensions.path().unwrap_or(&header_path);
        let components = safe_components(path)?;
        // `TOP/PKG-INFO` as sdists are made, or `PKG-INFO` at the root as
        // older tools and devpi's own tests make them.
        if matches!(components.as_slice(), [_, b"PKG-INFO"] | [b"PKG-INFO"]) {
            let shown = String::from_utf8_lossy(path).into_owned();
            if !matches!(kind, EntryType::Regular | EntryType::Continuous) {
                return Err(DistError::NotRegularFile { path: shown });
            }
            if header_size > limits.max_metadata {
                return Err(DistError::EntryTooLarge {
                    path: shown,
                    size: header_size,
                    limit: limits.max_metadata,
                });
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(limits.max_metadata)
                .read_to_end(&mut bytes)
                .map_err(corrupt)?;
            return Ok(FoundMetadata {
                path: shown,
                bytes,
                entry_points: None,
            });
        }
    }
    Err(DistError::MissingPkgInfo {
        expected: expected.to_string(),
    })
}

fn read_extension<R: Read>(entry: &mut R, declared: u64) -> io::Result<Vec<u8>> {
    if declared > MAX_EXTENSION_RECORD {
        return Err(io::Error::other(format!(
            "an extended-header record declares {declared} bytes; at most \
             {MAX_EXTENSION_RECORD} are accepted"
        )));
    }
    let mut bytes = Vec::new();
    entry.take(MAX_EXTENSION_RECORD).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// GNU long-name and PAX records that apply to the next real member.
#[derive(Default)]
struct PendingExtensions {
    long_name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    size: Option<u64>,
}

impl PendingExtensions {
    fn apply_pax(&mut self, record: &[u8]) -> Result<(), DistError> {
        for extension in PaxExtensions::new(record) {
            let extension =
                extension.map_err(|e| DistError::NotTarGz(format!("malformed PAX record: {e}")))?;
            match extension.key_bytes() {
                b"path" => self.pax_path = Some(extension.value_bytes().to_vec()),
                b"size" => {
                    let size = extension
                        .value()
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| {
                            DistError::NotTarGz("malformed PAX size record".to_string())
                        })?;
                    self.size = Some(size);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// PAX `path` overrides a GNU long name, which overrides the header.
    fn path(&self) -> Option<&[u8]> {
        self.pax_path.as_deref().or(self.long_name.as_deref())
    }
}

/// Fails the read (and sets `tripped`) once more than `remaining` bytes
/// would be produced.
struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // Exactly at the limit is fine if the stream ends here.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.tripped.set(true);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}
