//! Bounded read of a `.tar.gz` sdist: every member is checked (see
//! [`super::members`]) and `TOP/PKG-INFO` is read.
//!
//! A tar.gz can only be read front to back, so the whole stream is read
//! once, through caps on entry count, expanded bytes and compression ratio
//! (checked as the bytes come out, so a bomb is stopped early). The tar
//! crate is used in raw mode so that GNU long-name and PAX records are read
//! here through small caps too (the crate's own handling buffers them
//! whole, whatever their size). Concatenated gzip members are read as one
//! stream, as Python's `tarfile` does: what airlock checks is what an
//! installer unpacks.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use tar::{Archive, EntryType, PaxExtensions};

use super::error::DistError;
use super::inspect::{FoundMetadata, Limits};
use super::members::{self, shown, Layout, MemberKind, MemberRules};

/// Largest GNU long-name or PAX record accepted; real ones are tiny.
const MAX_EXTENSION_RECORD: u64 = 64 * 1024;

/// Read-ahead of the gzip decoder: compressed bytes counted for a member
/// may be off by this much, so the per-member ratio allows for it.
const COMPRESSED_SLACK: u64 = 32 * 1024;

/// Check every member of the sdist and return its `TOP/PKG-INFO`.
/// `expected` is only used in the message when none is found.
pub(super) fn find_pkg_info(
    file: File,
    limits: &Limits,
    expected: &str,
) -> Result<FoundMetadata, DistError> {
    let archive_size = file.metadata().map_err(DistError::Io)?.len();
    let meter = Rc::new(Meter::default());
    let reader = MeteredOutput {
        inner: MultiGzDecoder::new(BufReader::new(MeteredInput {
            inner: file,
            meter: Rc::clone(&meter),
        })),
        meter: Rc::clone(&meter),
        max_out: limits.max_decompressed,
        max_ratio: limits.max_ratio,
    };
    let mut archive = Archive::new(reader);
    let corrupt = |e: io::Error| match meter.trip.get() {
        Some(Trip::Size) => DistError::TooMuchData {
            limit: limits.max_decompressed,
        },
        Some(Trip::Ratio(ratio)) => DistError::ArchiveRatio {
            ratio,
            limit: limits.max_ratio,
        },
        None => DistError::NotTarGz(e.to_string()),
    };
    let entries = archive.entries().map_err(corrupt)?.raw(true);
    let mut rules = MemberRules::new(limits, Layout::Sdist);
    let mut pending = PendingExtensions::default();
    let mut found: Vec<(Vec<u8>, FoundMetadata)> = Vec::new();
    for (index, entry) in entries.enumerate() {
        if index >= limits.max_entries {
            return Err(DistError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(corrupt)?;
        let header_size = entry.header().entry_size().map_err(corrupt)?;
        let entry_type = entry.header().entry_type();
        if entry_type.is_gnu_longname() {
            let mut name = read_extension(&mut entry, header_size).map_err(corrupt)?;
            while name.last() == Some(&0) {
                name.pop();
            }
            pending.long_name = Some(name);
            continue;
        }
        if entry_type.is_pax_local_extensions() {
            let record = read_extension(&mut entry, header_size).map_err(corrupt)?;
            pending.apply_pax(&record)?;
            continue;
        }
        if entry_type.is_pax_global_extensions() {
            // Python's tarfile applies a global `path` or `size` to every
            // member that follows; refuse those rather than disagree.
            let record = read_extension(&mut entry, header_size).map_err(corrupt)?;
            check_global_pax(&record)?;
            continue;
        }
        if entry_type.is_gnu_longlink() {
            // A link target: the link itself is refused below.
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
        let path = extensions.path().unwrap_or(&header_path).to_vec();
        let also_named: Vec<&[u8]> = if extensions.path().is_some() {
            vec![&header_path]
        } else {
            Vec::new()
        };
        let kind = member_kind(entry_type);
        let components = rules.admit(&path, &also_named, kind)?;
        let in_before = meter.input.get();
        // `TOP/PKG-INFO` as sdists are made, or `PKG-INFO` at the root as
        // older tools (and devpi's own tests) make them; the root is the
        // empty top.
        let pkg_info_top: Option<&[u8]> = match components.as_slice() {
            [top, b"PKG-INFO"] => Some(top),
            [b"PKG-INFO"] => Some(b""),
            _ => None,
        };
        if let Some(top) = pkg_info_top {
            if kind != MemberKind::File {
                return Err(DistError::NotRegularFile {
                    path: shown(&path),
                    kind: "directory",
                });
            }
            if header_size > limits.max_metadata {
                return Err(DistError::EntryTooLarge {
                    path: shown(&path),
                    size: header_size,
                    limit: limits.max_metadata,
                });
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(limits.max_metadata)
                .read_to_end(&mut bytes)
                .map_err(corrupt)?;
            found.push((
                top.to_vec(),
                FoundMetadata {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    bytes,
                    entry_points: None,
                },
            ));
        } else {
            io::copy(&mut entry, &mut io::sink()).map_err(corrupt)?;
        }
        let compressed = meter.input.get() - in_before + COMPRESSED_SLACK;
        rules.account(&path, header_size, compressed)?;
    }
    members::check_total_ratio(meter.output.get(), archive_size, limits)?;
    let (top, metadata) = match found.len() {
        0 => {
            return Err(DistError::MissingPkgInfo {
                expected: expected.to_string(),
            })
        }
        1 => found.remove(0),
        _ => {
            return Err(DistError::MultiplePkgInfo(
                found.into_iter().map(|(_, f)| f.path).collect(),
            ))
        }
    };
    rules.finish_layout(&top)?;
    Ok(metadata)
}

fn member_kind(entry_type: EntryType) -> MemberKind {
    match entry_type {
        EntryType::Regular | EntryType::Continuous => MemberKind::File,
        EntryType::Directory => MemberKind::Directory,
        EntryType::Symlink => MemberKind::Symlink,
        EntryType::Link => MemberKind::HardLink,
        EntryType::Char => MemberKind::CharDevice,
        EntryType::Block => MemberKind::BlockDevice,
        EntryType::Fifo => MemberKind::Fifo,
        _ => MemberKind::Other,
    }
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

/// PAX keys that change which bytes or which name a member has.
fn is_identity_key(key: &[u8]) -> bool {
    matches!(key, b"path" | b"linkpath" | b"size") || key.starts_with(b"GNU.sparse")
}

fn check_global_pax(record: &[u8]) -> Result<(), DistError> {
    for extension in PaxExtensions::new(record) {
        let extension =
            extension.map_err(|e| DistError::NotTarGz(format!("malformed PAX record: {e}")))?;
        if is_identity_key(extension.key_bytes()) {
            return Err(DistError::NotTarGz(format!(
                "a global PAX header sets {:?} for every member; such archives are not accepted",
                shown(extension.key_bytes())
            )));
        }
    }
    Ok(())
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
                key if key.starts_with(b"GNU.sparse") => {
                    return Err(DistError::NotTarGz(
                        "the archive has a sparse member (GNU.sparse PAX records); sparse files \
                         are not accepted"
                            .to_string(),
                    ))
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

/// Why the decompressed stream was cut off.
#[derive(Debug, Clone, Copy)]
enum Trip {
    Size,
    Ratio(u64),
}

/// Bytes read from the file and produced by the decoder so far.
#[derive(Default)]
struct Meter {
    input: Cell<u64>,
    output: Cell<u64>,
    trip: Cell<Option<Trip>>,
}

/// Counts the compressed bytes read from the file.
struct MeteredInput<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for MeteredInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.input.set(self.meter.input.get() + n as u64);
        Ok(n)
    }
}

/// Fails the read (and records why) once more than `max_out` bytes would
/// be produced, or the output outgrows the input by more than `max_ratio`.
struct MeteredOutput<R> {
    inner: R,
    meter: Rc<Meter>,
    max_out: u64,
    max_ratio: u64,
}

impl<R: Read> Read for MeteredOutput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let produced = self.meter.output.get();
        let remaining = self.max_out.saturating_sub(produced);
        if remaining == 0 {
            // Exactly at the limit is fine if the stream ends here.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.meter.trip.set(Some(Trip::Size));
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        let max = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        let produced = produced + n as u64;
        self.meter.output.set(produced);
        if produced > members::RATIO_EXEMPT_BYTES {
            let ratio = produced / self.meter.input.get().max(1);
            if ratio > self.max_ratio {
                self.meter.trip.set(Some(Trip::Ratio(ratio)));
                return Err(io::Error::other("compression ratio limit exceeded"));
            }
        }
        Ok(n)
    }
}
