//! The HTTP client behind the `airlock` client commands (`use`, `login`,
//! `user cert`, and the pipeline commands): where the server is, how to
//! authenticate, and a small JSON API wrapper. Like `devpi use`/`login`,
//! the server URL and login token are remembered in a config file.

mod api;
mod config;

pub use api::{ApiClient, ClientError, RequestBody};
pub use config::{ClientConfig, ConnectArgs};
