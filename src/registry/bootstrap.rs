//! First start: the root user and the default indexes.

use std::sync::Arc;

use super::{Registry, Result};
use crate::auth::password;
use crate::index::{IndexConfig, IndexKind};
use crate::names::IndexPath;
use crate::store::users as user_table;

/// Where root's password comes from on first start.
#[derive(Debug, Clone)]
pub enum RootPassword {
    /// From `AIRLOCK_ROOT_PASSWORD` (may be empty, for throwaway test servers).
    Given(String),
    /// Not given: generate one and print it once.
    Generate,
}

/// Create `root`, `root/dev` (volatile stage) and `root/prod` (non-volatile
/// stage, no bases) if they do not exist. Returns the generated root
/// password when one was made.
pub async fn bootstrap(reg: &Arc<Registry>, root_pw: RootPassword) -> Result<Option<String>> {
    let exists = reg
        .store
        .db
        .read(|c| user_table::get(c, "root"))
        .await?
        .is_some();
    let mut generated = None;
    if exists {
        if let RootPassword::Given(_) = root_pw {
            tracing::warn!(
                "AIRLOCK_ROOT_PASSWORD is set but IGNORED: root already exists in this data \
                 folder (the variable only counts on the first start). To reset root's \
                 password, stop the server and run `airlock user passwd root --data DIR`."
            );
        }
    } else {
        let pw = match root_pw {
            RootPassword::Given(p) => {
                if p.is_empty() {
                    tracing::warn!(
                        "AIRLOCK_ROOT_PASSWORD is set and EMPTY: root can log in without a password. \
                         Only do this for a throwaway test server."
                    );
                }
                p
            }
            RootPassword::Generate => {
                let p = random_password();
                generated = Some(p.clone());
                p
            }
        };
        let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
            .await
            .map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
        reg.store
            .db
            .write(move |tx| user_table::create(tx, "root", Some(&hash), None))
            .await?;
    }
    // The PyPI mirror exists from the first start (its upstream is
    // `--upstream` unless an admin sets mirror_url). Only then: an admin who
    // deleted it later does not get it back on restart.
    let pypi = IndexPath::parse("root/pypi").expect("valid default index name");
    if !exists && reg.index(&pypi).is_err() {
        let mut cfg = IndexConfig::new(IndexKind::Mirror, "root");
        cfg.volatile = false;
        reg.insert_index(&pypi, cfg).await?;
        tracing::info!(index = "root/pypi", "created default mirror index");
    }
    for (name, volatile) in [("root/dev", true), ("root/prod", false)] {
        let path = IndexPath::parse(name).expect("valid default index name");
        if reg.index(&path).is_err() {
            let mut cfg = IndexConfig::new(IndexKind::Stage, "root");
            cfg.volatile = volatile;
            // A developer index that sees PyPI; set only when root/dev is
            // created, so a removed base is never re-added. root/prod keeps
            // no bases.
            if volatile && reg.index(&pypi).is_ok() {
                cfg.bases = vec![pypi.clone()];
            }
            reg.insert_index(&path, cfg).await?;
            tracing::info!(index = name, "created default index");
        }
    }
    Ok(generated)
}

/// Set `user`'s password straight in the data folder (no server, no
/// login: for a forgotten root password), audited as a change by the local
/// administrator.
pub async fn reset_password_offline(
    store: &crate::store::Store,
    user: &str,
    new_password: String,
) -> Result<()> {
    require_user_offline(store, user).await?;
    let hash = tokio::task::spawn_blocking(move || password::hash(&new_password))
        .await
        .map_err(|e| crate::store::StoreError::Internal(e.to_string()))?;
    let entry = crate::audit::NewEntry::new(crate::audit::Action::UserModify, user).details(
        serde_json::json!({
            "changed": {"password": "changed"},
            "via": "airlock user passwd --data (offline, by whoever can write the data folder)",
        }),
    );
    let name = user.to_string();
    store
        .db
        .write(move |tx| {
            user_table::set_password(tx, &name, &hash)?;
            crate::audit::append(tx, entry)?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// `NotFound` unless `user` exists in the data folder of `store`.
pub async fn require_user_offline(store: &crate::store::Store, user: &str) -> Result<()> {
    let name = user.to_string();
    let found = store
        .db
        .read(move |c| user_table::get(c, &name))
        .await?
        .is_some();
    if !found {
        return Err(super::RegistryError::NotFound(format!(
            "no user {user} in this data folder"
        )));
    }
    Ok(())
}

/// A new random password (24 URL-safe characters).
pub fn random_password() -> String {
    let mut bytes = [0u8; 18];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random number generator failed");
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
