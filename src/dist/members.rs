//! The rules every member of a distribution archive must follow, whatever
//! the container (tar.gz sdist, zip sdist, wheel): what kind of member it
//! may be, where it may sit, that its name is unique, and how far the
//! archive may expand (a compression bomb is refused, not unpacked).
//!
//! The archive readers (`tar_archive`, `zip_archive`) feed every member
//! through one [`MemberRules`]; nothing here does I/O.

use std::collections::HashMap;

use super::entry_path::safe_components;
use super::error::DistError;
use super::inspect::Limits;

/// Members (and archives) that expand to at most this many bytes (the
/// metadata size limit) are exempt from the compression-ratio rule: a small
/// file of repeated bytes legitimately compresses far better than 50:1, and
/// cannot hurt anyone.
pub const RATIO_EXEMPT_BYTES: u64 = super::metadata::MAX_METADATA_BYTES as u64;

/// What an archive member is, as its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MemberKind {
    File,
    Directory,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
    /// Anything else (GNU sparse files, volume labels, unknown types).
    Other,
}

impl MemberKind {
    /// `None` for the kinds a distribution may hold; otherwise what the
    /// member is, for the message.
    pub(super) fn forbidden(self) -> Option<&'static str> {
        match self {
            MemberKind::File | MemberKind::Directory => None,
            MemberKind::Symlink => Some("symbolic link"),
            MemberKind::HardLink => Some("hard link"),
            MemberKind::CharDevice => Some("character device"),
            MemberKind::BlockDevice => Some("block device"),
            MemberKind::Fifo => Some("FIFO"),
            MemberKind::Socket => Some("socket"),
            MemberKind::Other => Some("special member (not a regular file or directory)"),
        }
    }

    /// The kind a Unix mode (`st_mode`, as zip external attributes carry
    /// it) describes; `None` when the mode has no type bits.
    pub(super) fn from_unix_mode(mode: u32) -> Option<Self> {
        Some(match mode & 0o170_000 {
            0 => return None,
            0o100_000 => MemberKind::File,
            0o040_000 => MemberKind::Directory,
            0o120_000 => MemberKind::Symlink,
            0o020_000 => MemberKind::CharDevice,
            0o060_000 => MemberKind::BlockDevice,
            0o010_000 => MemberKind::Fifo,
            0o140_000 => MemberKind::Socket,
            _ => MemberKind::Other,
        })
    }
}

/// Where members may sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Anywhere (relative and safe).
    Wheel,
    /// Everything inside one top-level folder (the one holding PKG-INFO).
    Sdist,
}

/// Shortened member name for messages: never echo an unbounded input.
pub(super) fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Checks members one at a time and keeps the running totals.
pub(super) struct MemberRules<'a> {
    limits: &'a Limits,
    layout: Layout,
    /// Normalised path → whether it was a directory.
    seen: HashMap<Vec<u8>, bool>,
    /// Sdists: the first top-level component seen, and the member that
    /// first sat elsewhere (reported after the PKG-INFO checks, so that a
    /// misplaced PKG-INFO gets the more useful message).
    tops: Vec<Vec<u8>>,
    misplaced: Option<String>,
    expanded: u64,
}

impl<'a> MemberRules<'a> {
    pub(super) fn new(limits: &'a Limits, layout: Layout) -> Self {
        Self {
            limits,
            layout,
            seen: HashMap::new(),
            tops: Vec::new(),
            misplaced: None,
            expanded: 0,
        }
    }

    /// Check one member's path and kind. `extra_names` are other names the
    /// same member goes by in the archive (a tar header's own name under a
    /// PAX or GNU long name): each must be safe too, because some extractor
    /// may use it. Returns the normalised components.
    pub(super) fn admit<'p>(
        &mut self,
        raw: &'p [u8],
        extra_names: &[&[u8]],
        kind: MemberKind,
    ) -> Result<Vec<&'p [u8]>, DistError> {
        let components = safe_components(raw)?;
        for other in extra_names.iter().filter(|o| !o.is_empty()) {
            safe_components(other)?;
        }
        if let Some(what) = kind.forbidden() {
            return Err(DistError::NotRegularFile {
                path: shown(raw),
                kind: what,
            });
        }
        let is_dir = kind == MemberKind::Directory;
        if components.is_empty() {
            // "./" and the like: the extraction folder itself.
            return if is_dir {
                Ok(components)
            } else {
                Err(DistError::UnsafePath { entry: shown(raw) })
            };
        }
        let key = components.join(&b'/');
        if let Some(was_dir) = self.seen.insert(key, is_dir) {
            if !(was_dir && is_dir) {
                return Err(DistError::DuplicateMember { path: shown(raw) });
            }
        }
        if self.layout == Layout::Sdist {
            let top = components[0];
            if components.len() == 1 && !is_dir && self.misplaced.is_none() {
                self.misplaced = Some(shown(raw));
            }
            if !self.tops.iter().any(|t| t == top) {
                self.tops.push(top.to_vec());
            }
        }
        Ok(components)
    }

    /// Account for `expanded` bytes of the member `path`, which took
    /// `compressed` bytes in the archive: the per-member and total size and
    /// ratio limits.
    pub(super) fn account(
        &mut self,
        path: &[u8],
        expanded: u64,
        compressed: u64,
    ) -> Result<(), DistError> {
        self.expanded = self.expanded.saturating_add(expanded);
        if self.expanded > self.limits.max_decompressed {
            return Err(DistError::TooMuchData {
                limit: self.limits.max_decompressed,
            });
        }
        if expanded > RATIO_EXEMPT_BYTES {
            let ratio = expanded / compressed.max(1);
            if ratio > self.limits.max_ratio {
                return Err(DistError::MemberRatio {
                    path: shown(path),
                    ratio,
                    limit: self.limits.max_ratio,
                });
            }
        }
        Ok(())
    }

    /// The whole archive: `expanded` bytes out of `archive_size` on disk.
    pub(super) fn check_total_ratio(&self, archive_size: u64) -> Result<(), DistError> {
        check_total_ratio(self.expanded, archive_size, self.limits)
    }

    /// Sdists, after PKG-INFO was found in `top`: every member must have
    /// been inside that folder.
    /// An empty `top` is the archive root (PKG-INFO at the root, as older
    /// tools made sdists): every safe member is then inside it.
    pub(super) fn finish_layout(&self, top: &[u8]) -> Result<(), DistError> {
        if self.layout != Layout::Sdist || top.is_empty() {
            return Ok(());
        }
        if let Some(path) = &self.misplaced {
            return Err(DistError::OutsideTopLevel {
                path: path.clone(),
                top: shown(top),
            });
        }
        if let Some(other) = self.tops.iter().find(|t| t.as_slice() != top) {
            return Err(DistError::OutsideTopLevel {
                path: shown(other),
                top: shown(top),
            });
        }
        Ok(())
    }
}

/// The ratio rule for a whole archive (also used while a tar.gz is still
/// being read, to stop early).
pub(super) fn check_total_ratio(
    expanded: u64,
    compressed: u64,
    limits: &Limits,
) -> Result<(), DistError> {
    if expanded > RATIO_EXEMPT_BYTES {
        let ratio = expanded / compressed.max(1);
        if ratio > limits.max_ratio {
            return Err(DistError::ArchiveRatio {
                ratio,
                limit: limits.max_ratio,
            });
        }
    }
    Ok(())
}
