//! User accounts: create, change, delete, log in.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action};
use crate::auth::{password, Identity};
use crate::names::UserName;
use crate::store::{indexes as index_table, users as user_table};

/// Longest accepted password (bounds the hashing work per request).
const MAX_PASSWORD: usize = 1024;
/// Longest accepted email value.
const MAX_EMAIL: usize = 1024;

/// Changes to a user account, from a devpi `PATCH /user` body.
#[derive(Debug, Default, Clone)]
pub struct UserChanges {
    pub password: Option<String>,
    pub email: Option<Option<String>>,
}

impl UserChanges {
    /// Accepts a JSON object (`{"password": …, "email": …}`) or devpi's
    /// operation list (`["email=x@y"]`).
    pub fn from_json(body: &Value) -> Result<Self> {
        let mut out = Self::default();
        let mut set = |key: &str, value: &Value| -> Result<()> {
            match key {
                "password" => {
                    out.password = Some(
                        value
                            .as_str()
                            .ok_or_else(|| {
                                RegistryError::Invalid("password must be a string".into())
                            })?
                            .to_string(),
                    )
                }
                "email" => {
                    out.email = Some(value.as_str().map(str::to_string).filter(|s| !s.is_empty()))
                }
                // devpi-client sends these with some commands; they carry nothing to change.
                "username" | "indexes" | "pwhash" | "pwsalt" | "created" | "modified" => {}
                other => {
                    return Err(RegistryError::Invalid(format!(
                        "unknown user setting {other:?}; known settings are password and email"
                    )))
                }
            }
            Ok(())
        };
        match body {
            Value::Object(m) => {
                for (k, v) in m {
                    set(k, v)?;
                }
            }
            Value::Array(ops) => {
                for op in ops {
                    let s = op.as_str().unwrap_or_default();
                    let (k, v) = s.split_once('=').ok_or_else(|| {
                        RegistryError::Invalid(format!(
                            "invalid operation {s:?}: expected KEY=VALUE"
                        ))
                    })?;
                    set(k, &Value::String(v.to_string()))?;
                }
            }
            Value::Null => {}
            _ => return Err(RegistryError::Invalid("expected a JSON object".into())),
        }
        if let Some(p) = &out.password {
            check_password(p)?;
        }
        // Email is contact information, not a credential: accept what devpi
        // accepts (any text), bounded and printable so it cannot break a log
        // line or a page.
        if let Some(Some(e)) = &out.email {
            if e.len() > MAX_EMAIL || e.chars().any(char::is_control) {
                return Err(RegistryError::Invalid(format!(
                    "email must be at most {MAX_EMAIL} bytes without control characters"
                )));
            }
        }
        Ok(out)
    }
}

fn check_password(p: &str) -> Result<()> {
    if p.len() > MAX_PASSWORD {
        return Err(RegistryError::Invalid(format!(
            "passwords are limited to {MAX_PASSWORD} bytes"
        )));
    }
    Ok(())
}

fn require_self_or_root(actor: Option<&Identity>, user: &str, what: &str) -> Result<()> {
    match actor {
        None => Err(RegistryError::Unauthenticated(format!("log in to {what}"))),
        Some(id) if id.user == user || id.is_root() => Ok(()),
        Some(id) => Err(RegistryError::Forbidden(format!(
            "user {} may not {what}; only {user} or root may",
            id.user
        ))),
    }
}

impl Registry {
    /// The identity the trusted front proxy's `claim` stands for. A user
    /// that does not exist is refused, or with `create` made (without a
    /// password: they log in through the proxy only; audited as created
    /// `via` proxy).
    pub async fn proxy_identity(
        self: &Arc<Self>,
        by: &Actor,
        claim: &crate::auth::proxy::ProxyClaim,
        create: bool,
    ) -> Result<Identity> {
        let name = claim.user.as_str().to_string();
        let identity = Identity {
            user: name.clone(),
            method: crate::auth::AuthMethod::Proxy,
            cert_fingerprint: None,
            groups: claim.groups.clone(),
        };
        let lookup = name.clone();
        if self
            .store
            .db
            .read(move |c| user_table::get(c, &lookup))
            .await?
            .is_some()
        {
            return Ok(identity);
        }
        if !create {
            return Err(RegistryError::Forbidden(format!(
                "the front proxy authenticated user {name}, who has no account here; an \
                 administrator must create it (or start airlock with --proxy-create-users)"
            )));
        }
        let entry = by
            .entry(Action::UserCreate, name.as_str())
            .details(json!({"via": "proxy", "groups": claim.groups}));
        let n = name.clone();
        let created = self
            .store
            .db
            .write(move |tx| {
                let created = user_table::create(tx, &n, None, None)?;
                if created {
                    audit::append(tx, entry)?;
                }
                Ok(created)
            })
            .await?;
        if created {
            tracing::info!(user = %name, "user created on first sight through the front proxy");
        }
        Ok(identity)
    }

    pub async fn create_user(
        self: &Arc<Self>,
        by: &Actor,
        name: &str,
        changes: UserChanges,
    ) -> Result<()> {
        let actor = by.identity();
        let name = UserName::new(name)?;
        if !self.settings.open_registration {
            match actor {
                Some(id) if id.is_root() => {}
                Some(id) => {
                    return Err(RegistryError::Forbidden(format!(
                        "user {} may not create users: on this server only root creates accounts",
                        id.user
                    )))
                }
                None => {
                    return Err(RegistryError::Unauthenticated(
                        "log in as root to create users (open registration is disabled)".into(),
                    ))
                }
            }
        }
        let Some(pw) = changes.password else {
            return Err(RegistryError::Invalid("a new user needs a password".into()));
        };
        let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
            .await
            .map_err(|e| RegistryError::Store(crate::store::StoreError::Internal(e.to_string())))?;
        let email = changes.email.flatten();
        let n = name.as_str().to_string();
        let entry = by
            .entry(Action::UserCreate, name.as_str())
            .details(json!({"email": email}));
        let created = self
            .store
            .db
            .write(move |tx| {
                let created = user_table::create(tx, &n, Some(&hash), email.as_deref())?;
                if created {
                    audit::append(tx, entry)?;
                }
                Ok(created)
            })
            .await?;
        if !created {
            return Err(RegistryError::Conflict(format!(
                "user {name} already exists"
            )));
        }
        tracing::info!(user = %name, by = actor.map(|a| a.user.as_str()), "user created");
        Ok(())
    }

    pub async fn modify_user(
        self: &Arc<Self>,
        by: &Actor,
        name: &str,
        changes: UserChanges,
    ) -> Result<()> {
        require_self_or_root(by.identity(), name, "change this account")?;
        self.user_json(name).await?; // 404 if missing
        let hash = match changes.password {
            Some(pw) => Some(
                tokio::task::spawn_blocking(move || password::hash(&pw))
                    .await
                    .map_err(|e| {
                        RegistryError::Store(crate::store::StoreError::Internal(e.to_string()))
                    })?,
            ),
            None => None,
        };
        let n = name.to_string();
        // never the password or its hash: only that it changed
        let mut changed = Map::new();
        if hash.is_some() {
            changed.insert("password".into(), json!("changed"));
        }
        if let Some(e) = &changes.email {
            changed.insert("email".into(), json!(e));
        }
        let entry = by
            .entry(Action::UserModify, name)
            .details(json!({ "changed": changed }));
        self.store
            .db
            .write(move |tx| {
                if let Some(h) = &hash {
                    user_table::set_password(tx, &n, h)?;
                }
                if let Some(e) = &changes.email {
                    user_table::set_email(tx, &n, e.as_deref())?;
                }
                audit::append(tx, entry)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Delete a user. Their indexes must be deleted first, except volatile
    /// ones, which go with the user.
    pub async fn delete_user(self: &Arc<Self>, by: &Actor, name: &str) -> Result<()> {
        require_self_or_root(by.identity(), name, "delete this account")?;
        if name == "root" {
            return Err(RegistryError::Forbidden(
                "the root user cannot be deleted".into(),
            ));
        }
        let owned: Vec<_> = self
            .all_indexes()
            .into_iter()
            .filter(|i| i.path.user.as_str() == name)
            .collect();
        if let Some(keep) = owned.iter().find(|i| !i.config.volatile) {
            return Err(RegistryError::Forbidden(format!(
                "user {name} owns the non-volatile index {}; delete it first",
                keep.path
            )));
        }
        for idx in &owned {
            self.delete_index(by, &idx.path, true).await?;
        }
        let n = name.to_string();
        let entry = by.entry(Action::UserDelete, name).details(json!({
            "deleted_indexes": owned.iter().map(|i| i.path.to_string()).collect::<Vec<_>>(),
        }));
        let found = self
            .store
            .db
            .write(move |tx| {
                let Some(row) = user_table::get(tx, &n)? else {
                    return Ok(false);
                };
                user_table::delete(tx, row.id)?;
                audit::append(tx, entry)?;
                Ok(true)
            })
            .await?;
        if !found {
            return Err(RegistryError::NotFound(format!(
                "user {name} does not exist"
            )));
        }
        Ok(())
    }

    /// A 404 unless the user exists (asked before permissions, as devpi
    /// does: whether an account exists is public, `GET /` lists them).
    pub async fn require_user(self: &Arc<Self>, name: &str) -> Result<()> {
        let n = name.to_string();
        match self.store.db.read(move |c| user_table::get(c, &n)).await? {
            Some(_) => Ok(()),
            None => Err(RegistryError::NotFound(format!(
                "user {name} does not exist"
            ))),
        }
    }

    /// devpi's `userconfig` JSON: name, email and the user's indexes.
    pub async fn user_json(self: &Arc<Self>, name: &str) -> Result<Value> {
        let n = name.to_string();
        let row = self
            .store
            .db
            .read(move |c| user_table::get(c, &n))
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("user {name} does not exist")))?;
        let n = name.to_string();
        let indexes = self
            .store
            .db
            .read(move |c| index_table::list_of_user(c, &n))
            .await?;
        let mut ix = Map::new();
        for i in indexes {
            ix.insert(
                i.path.index.to_string(),
                Value::Object(i.config.to_devpi_json()),
            );
        }
        let mut out = json!({"username": row.name, "indexes": ix, "created": row.created});
        if let Some(e) = row.email {
            out["email"] = Value::String(e);
        }
        Ok(out)
    }

    pub async fn list_users_json(self: &Arc<Self>) -> Result<Value> {
        let rows = self.store.db.read(user_table::list).await?;
        let mut out = Map::new();
        for r in rows {
            out.insert(r.name.clone(), self.user_json(&r.name).await?);
        }
        Ok(Value::Object(out))
    }

    /// Check a password and issue a login token: `(token, expiry)`.
    pub async fn login(self: &Arc<Self>, user: &str, pw: &str) -> Result<(String, i64)> {
        let creds = crate::auth::Credentials::Basic {
            user: user.to_string(),
            secret: pw.to_string(),
        };
        let id = self
            .auth
            .authenticate(&self.store.db, creds)
            .await
            .map_err(|_| RegistryError::Unauthenticated("invalid user name or password".into()))?;
        if id.method != crate::auth::AuthMethod::Password {
            return Err(RegistryError::Unauthenticated(
                "log in with a password, not a token".into(),
            ));
        }
        let n = id.user.clone();
        let row = self
            .store
            .db
            .read(move |c| user_table::get(c, &n))
            .await?
            .ok_or_else(|| {
                RegistryError::Unauthenticated("invalid user name or password".into())
            })?;
        Ok(self.auth.issue_token(&row.name, row.pwhash.as_deref()))
    }
}
