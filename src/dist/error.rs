//! The error for everything that can be wrong with an uploaded distribution.

use super::filename::FilenameError;
use super::metadata::MetadataError;

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{0}")]
    Filename(#[from] FilenameError),
    #[error("{path} in the archive is invalid: {source}")]
    Metadata {
        path: String,
        #[source]
        source: MetadataError,
    },
    #[error("could not read the uploaded file: {0}")]
    Io(#[source] std::io::Error),
    #[error("the file is not a valid zip archive: {0}")]
    NotZip(String),
    #[error("the file is not a valid gzip-compressed tar archive: {0}")]
    NotTarGz(String),
    #[error("the zip archive has {0} bytes of unexpected data before its first entry")]
    PrependedData(u64),
    #[error(
        "the zip archive lists the same file name more than once ({listed} entries, {unique} \
         distinct names); installers would disagree about which copy is real"
    )]
    DuplicateEntries { listed: usize, unique: usize },
    #[error("the archive has more than {limit} entries; that is not a plausible distribution")]
    TooManyEntries { limit: usize },
    #[error(
        "the archive expands to more than {limit} bytes; refusing to decompress further \
         (a compression bomb?)"
    )]
    TooMuchData { limit: u64 },
    #[error(
        "{path} in the archive is compressed {ratio}:1, more than the {limit}:1 allowed \
         (a compression bomb?)"
    )]
    MemberRatio {
        path: String,
        ratio: u64,
        limit: u64,
    },
    #[error(
        "the archive expands {ratio} times its size, more than the {limit}:1 allowed \
         (a compression bomb?)"
    )]
    ArchiveRatio { ratio: u64, limit: u64 },
    #[error(
        "the archive contains an entry with an unsafe path {entry:?}: absolute paths, drive \
         letters, backslashes, NUL and '..' components are not allowed"
    )]
    UnsafePath { entry: String },
    #[error(
        "the archive contains {path:?} more than once; installers would disagree about which \
         copy is real"
    )]
    DuplicateMember { path: String },
    #[error(
        "{path:?} in the sdist is outside its top-level folder {top:?}; every member of an \
         sdist must be inside the one folder that holds PKG-INFO"
    )]
    OutsideTopLevel { path: String, top: String },
    #[error(
        "the wheel has no top-level *.dist-info/METADATA file; a wheel must contain \
         {expected}/METADATA"
    )]
    MissingWheelMetadata { expected: String },
    #[error(
        "the wheel has more than one .dist-info directory ({}); it must have exactly one",
        .0.join(", ")
    )]
    MultipleDistInfo(Vec<String>),
    #[error(
        "the wheel's metadata directory {found:?} does not match its filename: expected \
         {expected:?} (name and version must agree after normalisation)"
    )]
    DistInfoMismatch { found: String, expected: String },
    #[error("the sdist has no PKG-INFO file in its top-level directory (expected {expected:?})")]
    MissingPkgInfo { expected: String },
    #[error("the sdist has more than one top-level PKG-INFO ({}); it must have exactly one", .0.join(", "))]
    MultiplePkgInfo(Vec<String>),
    #[error(
        "{path} in the archive is not a regular file: it is a {kind}; links, devices and FIFOs \
         are refused (an installer unpacking them could write outside its target folder)"
    )]
    NotRegularFile { path: String, kind: &'static str },
    #[error("{path} in the archive is encrypted; distributions cannot be encrypted")]
    Encrypted { path: String },
    #[error(
        "{path} in the archive uses the compression method {method}; only stored and deflate \
         are accepted"
    )]
    Compression { path: String, method: String },
    #[error("{path} in the archive is {size} bytes; at most {limit} bytes are accepted")]
    EntryTooLarge { path: String, size: u64, limit: u64 },
    #[error("could not read {path} from the archive: {reason}")]
    UnreadableEntry { path: String, reason: String },
    #[error("{path} in the archive is not valid UTF-8 text")]
    EntryNotUtf8 { path: String },
    #[error("the {what} names project '{metadata}' but the filename says '{filename}'")]
    NameMismatch {
        what: &'static str,
        metadata: String,
        filename: String,
    },
    #[error("the {what} says version '{metadata}' but the filename says '{filename}'")]
    VersionMismatch {
        what: &'static str,
        metadata: String,
        filename: String,
    },
}
