//! The PyPI simple repository API: content negotiation and page rendering
//! (PEP 503 HTML, PEP 691 JSON, PEP 592 yanked, PEP 629 api-version,
//! PEP 658/714 core metadata, PEP 700 versions/size/upload-time).
//! Pure functions: the server hands in what to list and gets bytes back.

mod cache;
mod encoding;
mod negotiate;
mod refusal;
mod render;

pub use cache::{Page, PageCache, PageKey};
pub use encoding::{preferred as preferred_encoding, Encoding};
pub use negotiate::{negotiate, Format, NotAcceptable};
pub use refusal::{decoy_files, decoy_version, is_decoy_filename, may_be_decoy};
pub use render::{render_index, render_project, rfc3339, IndexEntry, ProjectPage, SimpleFile};

/// The API version airlock speaks (PEP 700 fields need 1.1).
pub const API_VERSION: &str = "1.1";
