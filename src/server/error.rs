//! The one error type handlers return. Renders devpi-style JSON
//! (`{"message": …}`, `Content-Type: application/json`) or plain text for
//! clients that did not ask for JSON, and puts the message into the HTTP
//! reason phrase too, because pip and twine print the reason phrase and
//! nothing else.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::registry::RegistryError;
use crate::simple::NotAcceptable;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// Marker put on error responses so the rendering middleware can turn the
/// JSON body into plain text for non-JSON clients.
#[derive(Clone)]
pub struct ErrorMessage(pub String);

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            message: if message.len() > crate::echo::MAX_MESSAGE_CHARS {
                crate::echo::truncate(&message, crate::echo::MAX_MESSAGE_CHARS)
            } else {
                message
            },
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, m)
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        crate::metrics::count_refusal(e.refusal());
        let status = match &e {
            RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
            RegistryError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            RegistryError::Forbidden(_)
            | RegistryError::TypoBlocked(_)
            | RegistryError::PolicyRefused(_) => StatusCode::FORBIDDEN,
            RegistryError::Conflict(_) => StatusCode::CONFLICT,
            RegistryError::Invalid(_) => StatusCode::BAD_REQUEST,
            RegistryError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RegistryError::Upstream(_) => StatusCode::BAD_GATEWAY,
            RegistryError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            RegistryError::Store(crate::store::StoreError::Unavailable(m)) => {
                tracing::error!(error = %m, "blob storage unavailable");
                return Self::new(StatusCode::SERVICE_UNAVAILABLE, m.clone());
            }
            RegistryError::Store(crate::store::StoreError::Conflict(m)) => {
                return Self::new(StatusCode::CONFLICT, m.clone());
            }
            RegistryError::Store(crate::store::StoreError::Unsupported(m)) => {
                return Self::new(StatusCode::NOT_IMPLEMENTED, m.clone());
            }
            RegistryError::Store(inner) => {
                tracing::error!(error = %inner, "internal error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error; the details are in the server log",
                );
            }
        };
        Self::new(status, e.to_string())
    }
}

impl ApiError {
    /// For devpi's account and index management routes: a refusal because
    /// nobody is logged in is a 403, as devpi answers it (its client reads a
    /// 403 to an anonymous caller as "log in first"). Credentials that do not
    /// check out stay a 401; they never get here.
    pub fn management(e: RegistryError) -> Self {
        match e {
            RegistryError::Unauthenticated(m) => Self::forbidden(m),
            other => other.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(s) => RegistryError::Store(s).into(),
            other => Self::unauthorized(other.to_string()),
        }
    }
}

impl From<NotAcceptable> for ApiError {
    fn from(e: NotAcceptable) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"type": "error", "message": self.message}).to_string();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"airlock\""),
            );
        }
        if let Some(reason) = reason_phrase(self.status, &self.message) {
            resp.extensions_mut().insert(reason);
        }
        resp.extensions_mut().insert(ErrorMessage(self.message));
        resp
    }
}

/// The reason phrase of an error: the message, because clients print the
/// phrase (devpi does the same). An authentication challenge (401) keeps
/// its standard phrase in front (`Unauthorized: log in to …`), as devpi's
/// challenges have it. Printable ASCII only, bounded.
pub fn reason_phrase(status: StatusCode, message: &str) -> Option<hyper::ext::ReasonPhrase> {
    let full = match status {
        StatusCode::UNAUTHORIZED => format!("Unauthorized: {message}"),
        _ => message.to_string(),
    };
    let cleaned: String = full
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(300)
        .collect();
    hyper::ext::ReasonPhrase::try_from(cleaned.into_bytes()).ok()
}
