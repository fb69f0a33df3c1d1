//! The error type of domain operations. Each variant says which kind of
//! refusal it is; the HTTP layer maps kinds to status codes.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The thing asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request needs credentials it did not bring (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The requester is known but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what is stored (409).
    #[error("{0}")]
    Conflict(String),
    /// A push refused by the target's policy checks (403); already audited
    /// with the full review.
    #[error("{0}")]
    PolicyRefused(String),
    /// A project name refused as a likely typosquat (403 by default; the
    /// simple API renders it so pip and uv show the message).
    #[error("{0}")]
    TypoBlocked(TypoRefusal),
    /// The request is malformed or violates a rule (400).
    #[error("{0}")]
    Invalid(String),
    /// The request body is over a size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The caller sent too much too fast (429).
    #[error("{0}")]
    RateLimited(String),
    /// An upstream index failed and nothing cached could stand in (502).
    #[error("{0}")]
    Upstream(String),
    /// Something on the server side failed (500); details are logged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// The refusal kind counted by `airlock_refusals_total`.
    pub fn refusal(&self) -> crate::metrics::Refusal {
        use crate::metrics::Refusal;
        match self {
            Self::NotFound(_) => Refusal::NotFound,
            Self::Unauthenticated(_) => Refusal::Unauthenticated,
            Self::Forbidden(_) => Refusal::Forbidden,
            Self::Conflict(_) => Refusal::Conflict,
            Self::PolicyRefused(_) => Refusal::Policy,
            Self::TypoBlocked(_) => Refusal::Typosquat,
            Self::Invalid(_) => Refusal::Invalid,
            Self::TooLarge(_) => Refusal::TooLarge,
            Self::RateLimited(_) => Refusal::RateLimited,
            Self::Upstream(_) => Refusal::Upstream,
            Self::Store(_) => Refusal::Internal,
        }
    }
}

/// Why a project name was refused as a likely typosquat: the sentence a
/// person sees, and the protected name it imitates (none when an admin's
/// deny rule refused it), for clients that can show only a word of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TypoRefusal {
    pub message: String,
    pub looks_like: Option<String>,
}

macro_rules! invalid_from {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Invalid(e.to_string())
            }
        }
    )*};
}

invalid_from!(
    crate::index::ConfigError,
    crate::names::NameError,
    crate::search::QueryError,
    crate::search::PageError
);

impl From<crate::mirror::MirrorError> for RegistryError {
    fn from(e: crate::mirror::MirrorError) -> Self {
        use crate::mirror::MirrorError;
        match e {
            MirrorError::NotCachedOffline { .. } => RegistryError::NotFound(e.to_string()),
            MirrorError::Upstream { .. } => RegistryError::Upstream(e.to_string()),
            MirrorError::Store(s) => RegistryError::Store(s),
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
