//! airlock: a security-focused Python package index server.
//!
//! See `docs/ARCHITECTURE.md` for how the modules fit together.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod client;
pub mod connection;
pub mod deploy;
pub mod digest;
pub mod dist;
pub mod echo;
pub mod index;
pub mod listener;
pub mod maintenance;
pub mod metrics;
pub mod mirror;
pub mod names;
pub mod pipeline;
pub mod policy;
pub mod registry;
pub mod render;
pub mod search;
pub mod server;
pub mod simple;
pub mod store;
pub mod tls;
pub mod typo;
pub mod web;
pub mod webhooks;
