//! Bounded, read-only access to zip archives (wheels and legacy zip sdists).
//!
//! Opening checks the whole central directory up front: entry count, data
//! prepended before the archive, duplicate names (which Python's `zipfile`
//! and this crate would resolve differently) and unsafe member paths.
//! [`CheckedZip::check_members`] then holds every member to the rules of
//! [`super::members`] (kind, placement, size, ratio) and decompresses each
//! one, bounded, to prove its header tells the truth. Members are only ever
//! decompressed through a size cap.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use zip::{CompressionMethod, ZipArchive};

use super::entry_path::safe_components;
use super::error::DistError;
use super::inspect::Limits;
use super::members::{shown, Layout, MemberKind, MemberRules};

const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
const CENTRAL_HEADER_LEN: usize = 46;

/// An opened zip whose member list has passed the structural checks.
pub(super) struct CheckedZip {
    archive: ZipArchive<BufReader<File>>,
    names: Vec<String>,
    size: u64,
}

impl CheckedZip {
    pub(super) fn open(file: File, limits: &Limits) -> Result<Self, DistError> {
        let size = file.metadata().map_err(DistError::Io)?.len();
        let counting_handle = file.try_clone().map_err(DistError::Io)?;
        let archive =
            ZipArchive::new(BufReader::new(file)).map_err(|e| DistError::NotZip(e.to_string()))?;
        if archive.len() > limits.max_entries {
            return Err(DistError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        if archive.offset() != 0 {
            return Err(DistError::PrependedData(archive.offset()));
        }
        let listed = count_central_records(
            counting_handle,
            archive.central_directory_start(),
            limits.max_entries,
        )?;
        if listed > limits.max_entries {
            return Err(DistError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        if listed != archive.len() {
            return Err(DistError::DuplicateEntries {
                listed,
                unique: archive.len(),
            });
        }
        let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
        for name in &names {
            safe_components(name.as_bytes())?;
        }
        Ok(Self {
            archive,
            names,
            size,
        })
    }

    /// Hold every member to the archive rules (see [`super::members`]) and
    /// decompress each one, bounded, so that a header that lies about its
    /// size or checksum is caught. For sdists, `top` is the folder that
    /// holds PKG-INFO.
    pub(super) fn check_members(
        &mut self,
        limits: &Limits,
        layout: Layout,
        top: Option<&[u8]>,
    ) -> Result<(), DistError> {
        let mut rules = MemberRules::new(limits, layout);
        for i in 0..self.archive.len() {
            let (name, declared) = {
                let member = self
                    .archive
                    .by_index_raw(i)
                    .map_err(|e| DistError::NotZip(e.to_string()))?;
                let raw = member.name_raw().to_vec();
                let is_dir = member.name_raw().ends_with(b"/");
                let kind = match member.unix_mode().and_then(MemberKind::from_unix_mode) {
                    Some(MemberKind::File | MemberKind::Directory) | None if is_dir => {
                        MemberKind::Directory
                    }
                    Some(MemberKind::File | MemberKind::Directory) | None => MemberKind::File,
                    Some(other) => other,
                };
                rules.admit(&raw, &[], kind)?;
                if member.encrypted() {
                    return Err(DistError::Encrypted { path: shown(&raw) });
                }
                if !matches!(
                    member.compression(),
                    CompressionMethod::Stored | CompressionMethod::Deflated
                ) {
                    return Err(DistError::Compression {
                        path: shown(&raw),
                        method: member.compression().to_string(),
                    });
                }
                let declared = member.size();
                rules.account(&raw, declared, member.compressed_size())?;
                if kind == MemberKind::Directory {
                    continue;
                }
                (raw, declared)
            };
            let unreadable = |reason: String| DistError::UnreadableEntry {
                path: shown(&name),
                reason,
            };
            let member = self
                .archive
                .by_index(i)
                .map_err(|e| unreadable(e.to_string()))?;
            let got = std::io::copy(&mut member.take(declared + 1), &mut std::io::sink())
                .map_err(|e| unreadable(e.to_string()))?;
            if got != declared {
                return Err(unreadable(format!(
                    "it unpacks to a different size than its header declares ({declared} bytes)"
                )));
            }
        }
        rules.check_total_ratio(self.size)?;
        if let Some(top) = top {
            rules.finish_layout(top)?;
        }
        Ok(())
    }

    /// Every member name, in central-directory order; all are known safe.
    pub(super) fn names(&self) -> &[String] {
        &self.names
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Decompress one regular-file member, refusing more than `limit` bytes
    /// whatever its header claims.
    pub(super) fn read_bounded(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, DistError> {
        let unreadable = |reason: String| DistError::UnreadableEntry {
            path: name.to_string(),
            reason,
        };
        let too_large = |size: u64| DistError::EntryTooLarge {
            path: name.to_string(),
            size,
            limit,
        };
        let member = self
            .archive
            .by_name(name)
            .map_err(|e| unreadable(e.to_string()))?;
        if member.is_dir() || member.is_symlink() {
            return Err(DistError::NotRegularFile {
                path: name.to_string(),
                kind: if member.is_dir() {
                    "directory"
                } else {
                    "symbolic link"
                },
            });
        }
        if member.size() > limit {
            return Err(too_large(member.size()));
        }
        let mut bytes = Vec::new();
        member
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(e.to_string()))?;
        if bytes.len() as u64 > limit {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }
}

/// Walk the central directory ourselves and count its records. The zip
/// crate keys members by name, so duplicates silently collapse; comparing
/// this count with the number of distinct names exposes them.
pub(super) fn count_central_records(
    file: File,
    start: u64,
    limit: usize,
) -> Result<usize, DistError> {
    let mut reader = BufReader::new(file);
    let corrupt = |e: std::io::Error| DistError::NotZip(format!("central directory: {e}"));
    reader.seek(SeekFrom::Start(start)).map_err(corrupt)?;
    let mut count = 0;
    let mut header = [0u8; CENTRAL_HEADER_LEN];
    while count <= limit {
        if reader.read_exact(&mut header).is_err() {
            break;
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]);
        let signature = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        if signature != CENTRAL_HEADER_SIGNATURE {
            break;
        }
        let variable = i64::from(u16_at(28)) + i64::from(u16_at(30)) + i64::from(u16_at(32));
        reader.seek_relative(variable).map_err(corrupt)?;
        count += 1;
    }
    Ok(count)
}
