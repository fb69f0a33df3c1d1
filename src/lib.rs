//! airlock: a security-focused Python package index server.
//!
//! See `docs/ARCHITECTURE.md` for how the modules fit together.

pub mod digest;
pub mod names;
pub mod typo;
