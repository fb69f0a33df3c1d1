//! airlock: a security-focused Python package index server.
//!
//! See `docs/ARCHITECTURE.md` for how the modules fit together.

pub mod digest;
pub mod dist;
pub mod names;
pub mod index;
pub mod store;
pub mod auth;
pub mod registry;
pub mod simple;
pub mod cli;
pub mod server;
