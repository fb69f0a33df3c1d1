//! Web UI sessions: opened with a password, kept server-side, ended by
//! logout, by a password change, by idle time and by age.
//!
//! The cookie holds 32 random bytes; the database keeps only their SHA-256,
//! so a copy of the database opens no session.

use std::sync::Arc;

use super::{Registry, RegistryError, Result};
use crate::auth::{token, AuthMethod, Identity};
use crate::store::{sessions, users as user_table};

/// A session unused for this long is over.
pub const SESSION_IDLE_SECS: i64 = 2 * 60 * 60;
/// No session lives longer than this, however busy.
pub const SESSION_MAX_SECS: i64 = 12 * 60 * 60;
/// `last_seen` is written at most this often per session (a page view is
/// a read; it should not cost a write each time).
const TOUCH_EVERY_SECS: i64 = 60;

/// A session just opened: the cookie value to hand to the browser.
#[derive(Debug)]
pub struct NewSession {
    pub cookie: String,
    pub user: String,
}

fn digest(cookie: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, cookie.as_bytes()).as_ref())
}

/// A cookie value we could have issued: 43 base64url characters.
fn well_formed(cookie: &str) -> bool {
    cookie.len() == 43
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Registry {
    /// Check `user`'s password and open a session.
    pub async fn open_session(
        self: &Arc<Self>,
        user: &str,
        password: &str,
        remote: Option<String>,
    ) -> Result<NewSession> {
        if password.is_empty() {
            return Err(RegistryError::Unauthenticated("no password given".into()));
        }
        if token::looks_like_token(password) {
            return Err(RegistryError::Unauthenticated(
                "log in with a password, not a token".into(),
            ));
        }
        let creds = crate::auth::Credentials::Basic {
            user: user.to_string(),
            secret: password.to_string(),
        };
        let id = Arc::clone(&self.auth)
            .authenticate(&self.store.db, creds)
            .await
            .map_err(|_| RegistryError::Unauthenticated("invalid user name or password".into()))?;
        let mut raw = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw).map_err(
            |_| {
                RegistryError::Store(crate::store::StoreError::Internal(
                    "no randomness for a session".into(),
                ))
            },
        )?;
        use base64::Engine as _;
        let cookie = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let hash = digest(&cookie);
        let name = id.user.clone();
        let now = crate::store::now();
        self.store
            .db
            .write_log(move |tx| {
                let row = user_table::get(tx, &name)?
                    .ok_or_else(|| crate::store::StoreError::Internal("user vanished".into()))?;
                sessions::expire(tx, now - SESSION_IDLE_SECS, now - SESSION_MAX_SECS)?;
                sessions::insert(
                    tx,
                    &hash,
                    &row.name,
                    &token::password_fingerprint(row.pwhash.as_deref()),
                    now,
                    remote.as_deref(),
                )
            })
            .await?;
        tracing::info!(user = %id.user, "web session opened");
        Ok(NewSession {
            cookie,
            user: id.user,
        })
    }

    /// The identity a session cookie stands for, if it is a live session:
    /// known, not idle or too old, and the user's password unchanged since.
    /// A dead session is removed.
    pub async fn session_identity(self: &Arc<Self>, cookie: &str) -> Result<Option<Identity>> {
        if !well_formed(cookie) {
            return Ok(None);
        }
        let hash = digest(cookie);
        let h = hash.clone();
        let found = self
            .store
            .db
            .read(move |c| {
                let Some(s) = sessions::get(c, &h)? else {
                    return Ok(None);
                };
                let user = user_table::get(c, &s.user)?;
                Ok(Some((s, user)))
            })
            .await?;
        let Some((session, user)) = found else {
            return Ok(None);
        };
        let now = crate::store::now();
        let alive = user.as_ref().is_some_and(|u| {
            token::password_fingerprint(u.pwhash.as_deref()) == session.pw_fingerprint
        }) && session.last_seen >= now - SESSION_IDLE_SECS
            && session.created >= now - SESSION_MAX_SECS;
        if !alive {
            self.store
                .db
                .write_log(move |tx| sessions::delete(tx, &hash))
                .await?;
            return Ok(None);
        }
        if now - session.last_seen >= TOUCH_EVERY_SECS {
            self.store
                .db
                .write_log(move |tx| sessions::touch(tx, &hash, now))
                .await?;
        }
        Ok(Some(Identity::new(session.user, AuthMethod::Session)))
    }

    /// End the session of `cookie` (logout). Unknown cookies are fine.
    pub async fn close_session(self: &Arc<Self>, cookie: &str) -> Result<()> {
        if !well_formed(cookie) {
            return Ok(());
        }
        let hash = digest(cookie);
        self.store
            .db
            .write_log(move |tx| sessions::delete(tx, &hash).map(|_| ()))
            .await?;
        Ok(())
    }
}
