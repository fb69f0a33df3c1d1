//! Distribution files: validating what an uploader sends before anything is
//! stored. Free of HTTP and database code.
//!
//! - [`filename`]: wheel and sdist filenames (PEP 427/491/625/527).
//! - [`metadata`]: core metadata (`METADATA` / `PKG-INFO`) parsing.
//! - [`doczip`]: documentation zips, validated and read member by member.
//! - [`toxresult`]: tox result reports, validated and summarised.
//! - [`inspect()`]: open an uploaded archive with bounded effort, read its
//!   metadata and check it agrees with the filename.
//! - [`stored_metadata()`]: the metadata member of an archive inspected
//!   before, without the archive rules (for `airlock fsck`).

pub mod doczip;
mod entry_path;
mod error;
pub mod filename;
mod inspect;
mod members;
pub mod metadata;
mod stored_metadata;
mod tar_archive;
pub mod toxresult;
mod zip_archive;

#[cfg(test)]
mod inspect_tests;

pub use error::DistError;
pub use filename::{DistFilename, DistKind, FilenameError, SdistFormat};
pub use inspect::{
    inspect, inspect_with_limits, InspectedDist, Limits, DEFAULT_MAX_EXPANDED, DEFAULT_MAX_RATIO,
    MAX_ENTRY_POINTS_BYTES,
};
pub use members::RATIO_EXEMPT_BYTES;
pub use metadata::{CoreMetadata, MetadataError, MAX_METADATA_BYTES};
pub use stored_metadata::stored_metadata;
