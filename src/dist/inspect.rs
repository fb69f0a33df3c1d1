//! Inspect an uploaded distribution before it is stored: open the archive
//! with bounded effort, find its one core-metadata file, and check that the
//! metadata agrees with the filename about which project and version this is.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::str::FromStr;

use pep440_rs::Version;

use super::entry_path::safe_components;
use super::error::DistError;
use super::filename::{DistFilename, DistKind, SdistFormat};
use super::members::Layout;
use super::metadata::{CoreMetadata, MAX_METADATA_BYTES};
use super::tar_archive;
use super::zip_archive::CheckedZip;
use crate::names::{normalize, ProjectName};

/// Largest `entry_points.txt` read from a wheel.
pub const MAX_ENTRY_POINTS_BYTES: u64 = 1024 * 1024;

/// Default for [`Limits::max_decompressed`]: 1 GiB (warehouse's rule).
pub const DEFAULT_MAX_EXPANDED: u64 = 1024 * 1024 * 1024;
/// Default for [`Limits::max_ratio`]: 50:1 (warehouse's rule).
pub const DEFAULT_MAX_RATIO: u64 = 50;

/// Resource caps for inspecting one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most members an archive may have.
    pub max_entries: usize,
    /// Most bytes all members together may expand to (every member is
    /// read, so this also bounds the work).
    pub max_decompressed: u64,
    /// Largest expanded/compressed ratio, per member and for the whole
    /// archive (members and archives below
    /// [`RATIO_EXEMPT_BYTES`](super::members::RATIO_EXEMPT_BYTES) exempt).
    pub max_ratio: u64,
    /// Largest METADATA / PKG-INFO.
    pub max_metadata: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_decompressed: DEFAULT_MAX_EXPANDED,
            max_ratio: DEFAULT_MAX_RATIO,
            max_metadata: MAX_METADATA_BYTES as u64,
        }
    }
}

/// What `inspect` learned about a distribution.
#[derive(Debug, Clone)]
pub struct InspectedDist {
    pub filename: DistFilename,
    pub metadata: CoreMetadata,
    /// The METADATA / PKG-INFO bytes exactly as in the archive, to be served
    /// as PEP 658 metadata.
    pub metadata_bytes: Vec<u8>,
    /// The wheel's `*.dist-info/entry_points.txt`, if it has one.
    pub entry_points: Option<String>,
}

/// The metadata file found in an archive.
pub(super) struct FoundMetadata {
    /// Member path, for messages.
    pub path: String,
    pub bytes: Vec<u8>,
    pub entry_points: Option<String>,
}

/// Inspect the distribution at `path`, uploaded under `filename`, with the
/// default [`Limits`]. Nothing is extracted to disk.
pub fn inspect(path: &Path, filename: &str) -> Result<InspectedDist, DistError> {
    inspect_with_limits(path, filename, &Limits::default())
}

pub fn inspect_with_limits(
    path: &Path,
    filename: &str,
    limits: &Limits,
) -> Result<InspectedDist, DistError> {
    let parsed = DistFilename::parse(filename)?;
    let file = File::open(path).map_err(DistError::Io)?;
    let (found, what) = match (parsed.kind, parsed.sdist_format) {
        (DistKind::Wheel, _) => (wheel_metadata(file, &parsed, limits)?, "wheel's METADATA"),
        (DistKind::Sdist, Some(SdistFormat::Zip)) => (
            zip_sdist_metadata(file, &parsed, limits)?,
            "sdist's PKG-INFO",
        ),
        (DistKind::Sdist, _) => (
            tar_archive::find_pkg_info(file, limits, &expected_pkg_info(&parsed))?,
            "sdist's PKG-INFO",
        ),
    };
    let metadata = CoreMetadata::parse(&found.bytes).map_err(|source| DistError::Metadata {
        path: found.path.clone(),
        source,
    })?;
    check_identity(&parsed, &metadata, what)?;
    Ok(InspectedDist {
        filename: parsed,
        metadata,
        metadata_bytes: found.bytes,
        entry_points: found.entry_points,
    })
}

fn wheel_metadata(
    file: File,
    parsed: &DistFilename,
    limits: &Limits,
) -> Result<FoundMetadata, DistError> {
    let mut zip = CheckedZip::open(file, limits)?;
    let expected = format!(
        "{}-{}.dist-info",
        parsed.name.as_dist_filename_part(),
        parsed.version
    );
    let mut dist_infos = BTreeSet::new();
    for name in zip.names() {
        let components = safe_components(name.as_bytes())?;
        let is_dir_entry = name.ends_with('/');
        if let Some(top) = components.first() {
            if top.ends_with(b".dist-info") && (components.len() > 1 || is_dir_entry) {
                dist_infos.insert(String::from_utf8_lossy(top).into_owned());
            }
        }
    }
    let dir = match dist_infos.len() {
        0 => return Err(DistError::MissingWheelMetadata { expected }),
        1 => dist_infos.pop_first().unwrap_or_default(),
        _ => {
            return Err(DistError::MultipleDistInfo(
                dist_infos.into_iter().collect(),
            ))
        }
    };
    if !dist_info_matches(&dir, parsed) {
        return Err(DistError::DistInfoMismatch {
            found: dir,
            expected,
        });
    }
    let metadata_path = format!("{dir}/METADATA");
    if !zip.contains(&metadata_path) {
        return Err(DistError::MissingWheelMetadata { expected: dir });
    }
    let bytes = zip.read_bounded(&metadata_path, limits.max_metadata)?;
    zip.check_members(limits, Layout::Wheel, None)?;
    let entry_points_path = format!("{dir}/entry_points.txt");
    let entry_points = if zip.contains(&entry_points_path) {
        let raw = zip.read_bounded(&entry_points_path, MAX_ENTRY_POINTS_BYTES)?;
        Some(String::from_utf8(raw).map_err(|_| DistError::EntryNotUtf8 {
            path: entry_points_path,
        })?)
    } else {
        None
    };
    Ok(FoundMetadata {
        path: metadata_path,
        bytes,
        entry_points,
    })
}

/// `{name}-{version}.dist-info`, compared after normalising both parts. The
/// name part of a conforming wheel has no '-', but try every split so that a
/// legacy unescaped name still matches.
fn dist_info_matches(dir: &str, parsed: &DistFilename) -> bool {
    let Some(stem) = dir.strip_suffix(".dist-info") else {
        return false;
    };
    stem.match_indices('-').any(|(i, _)| {
        let (name, version) = (&stem[..i], &stem[i + 1..]);
        normalize(name) == parsed.name.as_str()
            && Version::from_str(version).is_ok_and(|v| v == parsed.version)
    })
}

fn zip_sdist_metadata(
    file: File,
    parsed: &DistFilename,
    limits: &Limits,
) -> Result<FoundMetadata, DistError> {
    let mut zip = CheckedZip::open(file, limits)?;
    let mut candidates = Vec::new();
    for name in zip.names() {
        if matches!(
            safe_components(name.as_bytes())?.as_slice(),
            [_, b"PKG-INFO"] | [b"PKG-INFO"]
        ) {
            candidates.push(name.clone());
        }
    }
    let path = match candidates.len() {
        0 => {
            return Err(DistError::MissingPkgInfo {
                expected: expected_pkg_info(parsed),
            })
        }
        1 => candidates.pop().unwrap_or_default(),
        _ => return Err(DistError::MultiplePkgInfo(candidates)),
    };
    let bytes = zip.read_bounded(&path, limits.max_metadata)?;
    // the folder holding PKG-INFO; empty: PKG-INFO is at the archive root
    let components = safe_components(path.as_bytes())?;
    let top = if components.len() > 1 {
        components[0].to_vec()
    } else {
        Vec::new()
    };
    zip.check_members(limits, Layout::Sdist, Some(&top))?;
    Ok(FoundMetadata {
        path,
        bytes,
        entry_points: None,
    })
}

fn expected_pkg_info(parsed: &DistFilename) -> String {
    format!(
        "{}-{}/PKG-INFO",
        parsed.name.as_dist_filename_part(),
        parsed.version
    )
}

/// The metadata must describe the project and version the filename claims;
/// otherwise a file could be listed under one project while installing as
/// another.
fn check_identity(
    parsed: &DistFilename,
    metadata: &CoreMetadata,
    what: &'static str,
) -> Result<(), DistError> {
    let name_matches = ProjectName::new(&metadata.name).is_ok_and(|n| n == parsed.name);
    if !name_matches {
        return Err(DistError::NameMismatch {
            what,
            metadata: metadata.name.clone(),
            filename: parsed.name.to_string(),
        });
    }
    let version_matches = Version::from_str(&metadata.version).is_ok_and(|v| v == parsed.version);
    if !version_matches {
        return Err(DistError::VersionMismatch {
            what,
            metadata: metadata.version.clone(),
            filename: parsed.version.to_string(),
        });
    }
    Ok(())
}
