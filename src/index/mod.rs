//! Indexes: their configuration and how a stage index sees its bases.

pub mod config;
pub mod inheritance;
pub mod mirror_whitelist;

pub use config::{acl_allows, ConfigError, IndexConfig, IndexKind};
