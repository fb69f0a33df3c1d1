//! Index management: create, configure, delete; deleting releases and files.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::audit_log::{bounded, files_json};
use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action};
use crate::auth::Identity;
use crate::index::{IndexConfig, IndexKind};
use crate::names::{IndexPath, ProjectName};
use crate::store::{indexes as index_table, releases, users as user_table};

/// A configuration change: a JSON object of new values, or devpi's
/// `key=value` / `key+=value` / `key-=value` list.
pub enum ConfigChange {
    Object(Map<String, Value>),
    Operations(Vec<String>),
}

impl ConfigChange {
    pub fn from_json(body: Value) -> Result<Self> {
        match body {
            Value::Object(m) => Ok(Self::Object(m)),
            Value::Array(a) => Ok(Self::Operations(
                a.into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(RegistryError::Invalid(
                            "configuration operations must be strings like \"key=value\"".into(),
                        )),
                    })
                    .collect::<Result<_>>()?,
            )),
            _ => Err(RegistryError::Invalid(
                "expected a JSON object or list".into(),
            )),
        }
    }
}

fn require_owner(actor: Option<&Identity>, path: &IndexPath, what: &str) -> Result<()> {
    match actor {
        None => Err(RegistryError::Unauthenticated(format!(
            "log in to {what} index {path}"
        ))),
        Some(id) if id.user == path.user.as_str() || id.is_root() => Ok(()),
        Some(id) => Err(RegistryError::Forbidden(format!(
            "user {} may not {what} index {path}: only its owner {} or root may",
            id.user, path.user
        ))),
    }
}

impl Registry {
    /// Pass `check` through; a refusal (the production invariant, a
    /// policy-managed key) is also recorded in the audit log.
    async fn refuse_audited(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        check: Result<()>,
    ) -> Result<()> {
        if let Err(e) = &check {
            let entry = by
                .entry(Action::SecurityEvent, path.to_string())
                .details(json!({"event": "index_change_refused", "reason": e.to_string()}));
            self.audit_alone(entry).await;
        }
        check
    }

    pub async fn create_index(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        body: &Map<String, Value>,
    ) -> Result<IndexConfig> {
        let actor = by.identity();
        self.require_user(path.user.as_str()).await?;
        require_owner(actor, path, "create")?;
        let config = IndexConfig::from_create_request(path, body)?;
        self.check_bases(path, &config)?;
        self.refuse_audited(by, path, self.check_invariant(Some((path, &config))))
            .await?;
        self.insert_index_by(by, path, config.clone()).await?;
        tracing::info!(index = %path, by = actor.map(|a| a.user.as_str()), "index created");
        Ok(config)
    }

    /// Insert an index without permission checks (bootstrap, policies);
    /// audited as done by the server itself.
    pub(crate) async fn insert_index(
        self: &Arc<Self>,
        path: &IndexPath,
        config: IndexConfig,
    ) -> Result<()> {
        self.insert_index_by(&Actor::system(), path, config).await
    }

    /// Insert an index without permission checks, audited as done by `by`.
    async fn insert_index_by(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        config: IndexConfig,
    ) -> Result<()> {
        let entry = by
            .entry(Action::IndexCreate, path.to_string())
            .details(bounded(json!({"config": config.to_devpi_json()})));
        let p = path.clone();
        let created = self
            .store
            .db
            .write(move |tx| {
                let Some(owner) = user_table::get(tx, p.user.as_str())? else {
                    return Ok(Err(RegistryError::NotFound(format!(
                        "user {} does not exist",
                        p.user
                    ))));
                };
                let created = index_table::create(tx, owner.id, &p, &config)?;
                if created.is_some() {
                    audit::append(tx, entry)?;
                }
                Ok(Ok(created))
            })
            .await??;
        if created.is_none() {
            return Err(RegistryError::Conflict(format!(
                "index {path} already exists"
            )));
        }
        self.reload_indexes().await
    }

    pub async fn modify_index(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        change: ConfigChange,
    ) -> Result<IndexConfig> {
        let actor = by.identity();
        require_owner(actor, path, "modify")?;
        let row = self.index(path)?;
        let mut config = row.config.clone();
        match &change {
            ConfigChange::Object(m) => config.apply_object(path, m)?,
            ConfigChange::Operations(ops) => config.apply_operations(path, ops)?,
        }
        self.check_bases(path, &config)?;
        self.refuse_audited(
            by,
            path,
            self.check_policy_managed(path, &row.config, &config),
        )
        .await?;
        self.refuse_audited(by, path, self.check_invariant(Some((path, &config))))
            .await?;
        let c = config.clone();
        let entry = by
            .entry(Action::IndexModify, path.to_string())
            .details(bounded(
                json!({"before": row.config.to_devpi_json(), "after": config.to_devpi_json()}),
            ));
        self.store
            .db
            .write(move |tx| {
                index_table::update_config(tx, row.id, &c)?;
                audit::append(tx, entry)?;
                Ok(())
            })
            .await?;
        self.reload_indexes().await?;
        tracing::info!(index = %path, by = actor.map(|a| a.user.as_str()), "index modified");
        Ok(config)
    }

    /// Bases must exist. (Policy checks such as "production indexes never
    /// inherit a mirror" hook in here.)
    fn check_bases(&self, path: &IndexPath, config: &IndexConfig) -> Result<()> {
        for b in &config.bases {
            if b == path {
                return Err(RegistryError::Invalid(
                    "an index cannot have itself as a base".into(),
                ));
            }
            self.index(b)
                .map_err(|_| RegistryError::Invalid(format!("base index {b} does not exist")))?;
        }
        Ok(())
    }

    /// Delete an index and everything in it. Only volatile indexes can be
    /// deleted (devpi's rule); `force` is recorded.
    pub async fn delete_index(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        force: bool,
    ) -> Result<()> {
        let actor = by.identity();
        require_owner(actor, path, "delete")?;
        let row = self.index(path)?;
        let id = row.id;
        // devpi's rule: a non-volatile index is never deleted (what was
        // released there stays); it has to be made volatile first, which
        // policies can forbid.
        if !row.config.volatile {
            return Err(RegistryError::Forbidden(format!(
                "index {path} is not volatile and cannot be deleted; \
                 set volatile=True first if you mean it"
            )));
        }
        let dependents: Vec<String> = self
            .all_indexes()
            .into_iter()
            .filter(|i| i.config.bases.contains(path))
            .map(|i| i.path.to_string())
            .collect();
        if !dependents.is_empty() {
            return Err(RegistryError::Conflict(format!(
                "index {path} is a base of {}; remove it from their bases first",
                dependents.join(", ")
            )));
        }
        let entry = by.entry(Action::IndexDelete, path.to_string());
        let config = row.config.to_devpi_json();
        let orphans = self
            .store
            .db
            .write(move |tx| {
                let mut files = Vec::new();
                for p in releases::projects(tx, id)? {
                    files.extend(releases::files_of_project(tx, id, &p.name)?);
                }
                let details =
                    json!({"config": config, "force": force, "deleted": files_json(&files)});
                let out = releases::delete_all_of_index(tx, id)?;
                index_table::delete(tx, id)?;
                audit::append(tx, entry.details(bounded(details)))?;
                Ok(out)
            })
            .await?;
        self.reload_indexes().await?;
        self.collect_garbage(orphans).await;
        self.typo_sync_names().await;
        tracing::info!(index = %path, by = actor.map(|a| a.user.as_str()), "index deleted");
        Ok(())
    }

    /// devpi's `indexconfig` JSON with the list of the index's own projects.
    pub async fn index_json(self: &Arc<Self>, path: &IndexPath) -> Result<Value> {
        let row = self.index(path)?;
        let id = row.id;
        let projects = self
            .store
            .db
            .read(move |c| releases::projects(c, id))
            .await?;
        let mut m = row.config.to_devpi_json();
        m.insert(
            "projects".into(),
            Value::Array(
                projects
                    .into_iter()
                    .map(|p| Value::String(p.display_name))
                    .collect(),
            ),
        );
        Ok(Value::Object(m))
    }

    /// Delete one release (all its files) or, with `version = None`, every
    /// release of a project. Only on volatile indexes, unless `force`.
    pub async fn delete_release(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        project: &ProjectName,
        version: Option<&str>,
        force: bool,
    ) -> Result<()> {
        let actor = by.identity();
        let row = self.writable_stage(actor, path, "delete from")?;
        check_non_volatile_delete(actor, path, row.config.volatile, force, "releases")?;
        let id = row.id;
        let name = project.as_str().to_string();
        let versions: Vec<String> = match version {
            Some(v) => vec![normalize_version(v)?],
            None => self
                .store
                .db
                .read({
                    let name = name.clone();
                    move |c| releases::releases(c, id, &name)
                })
                .await?
                .into_iter()
                .map(|r| r.version)
                .collect(),
        };
        let label = version.map_or_else(|| project.to_string(), |v| format!("{project} {v}"));
        let target = match version {
            Some(_) => format!("{path}/{project}/{}", versions.first().map_or("", |v| v)),
            None => format!("{path}/{project}"),
        };
        let entry = by.entry(Action::Delete, target);
        let orphans = self
            .store
            .db
            .write(move |tx| {
                let mut out = Vec::new();
                let mut deleted = Vec::new();
                for v in &versions {
                    deleted.extend(releases::files_of_release(tx, id, &name, v)?);
                    out.extend(releases::delete_release(tx, id, &name, v)?);
                }
                let any = !deleted.is_empty();
                if any {
                    let details = json!({"force": force, "versions": versions, "deleted": files_json(&deleted)});
                    audit::append(tx, entry.details(bounded(details)))?;
                }
                Ok((any, out))
            })
            .await?;
        if !orphans.0 {
            return Err(RegistryError::NotFound(format!(
                "{label} is not on index {path}"
            )));
        }
        self.collect_garbage(orphans.1).await;
        self.typo_sync_names().await;
        tracing::info!(index = %path, release = %label, by = actor.map(|a| a.user.as_str()), "release deleted");
        Ok(())
    }

    /// Delete one file by name.
    pub async fn delete_file(
        self: &Arc<Self>,
        by: &Actor,
        path: &IndexPath,
        filename: &str,
        force: bool,
    ) -> Result<()> {
        let actor = by.identity();
        let row = self.writable_stage(actor, path, "delete from")?;
        check_non_volatile_delete(actor, path, row.config.volatile, force, "files")?;
        let id = row.id;
        let f = filename.to_string();
        let by = by.clone();
        let index = path.to_string();
        let orphans = self
            .store
            .db
            .write(move |tx| match releases::find_file(tx, id, &f)? {
                Some(file) => {
                    let orphans = releases::delete_file(tx, &file)?;
                    let target = format!(
                        "{index}/{}/{}/{}",
                        file.project, file.version, file.filename
                    );
                    let details =
                        json!({"force": force, "deleted": files_json(std::slice::from_ref(&file))});
                    audit::append(tx, by.entry(Action::Delete, target).details(details))?;
                    Ok(Some(orphans))
                }
                None => Ok(None),
            })
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("{filename} is not on index {path}")))?;
        self.collect_garbage(orphans).await;
        self.typo_sync_names().await;
        Ok(())
    }

    /// The stage index at `path`, if `actor` may upload to / change it.
    pub fn writable_stage(
        &self,
        actor: Option<&Identity>,
        path: &IndexPath,
        what: &str,
    ) -> Result<crate::store::indexes::IndexRow> {
        let row = self.index(path)?;
        if row.config.kind == IndexKind::Mirror {
            return Err(RegistryError::Forbidden(format!(
                "index {path} is a mirror: mirrors never accept uploads or changes to their files"
            )));
        }
        if !crate::index::acl_allows(
            &row.config.acl_upload,
            crate::index::config::Principal::of(actor),
        ) {
            return Err(match actor {
                None => RegistryError::Unauthenticated(format!(
                    "log in to {what} index {path} (anonymous access is not allowed)"
                )),
                Some(a) => RegistryError::Forbidden(format!(
                    "user {} is not allowed to {what} index {path} (not in its acl_upload)",
                    a.user
                )),
            });
        }
        Ok(row)
    }
}

/// On a non-volatile index nothing is deleted without `force`, and `force`
/// is only honoured for the index owner or root.
fn check_non_volatile_delete(
    actor: Option<&Identity>,
    path: &IndexPath,
    volatile: bool,
    force: bool,
    what: &str,
) -> Result<()> {
    if volatile {
        return Ok(());
    }
    if !force {
        return Err(RegistryError::Forbidden(format!(
            "index {path} is not volatile: {what} cannot be deleted from it; \
             its owner or root can force it (devpi remove --force, or ?force=true)"
        )));
    }
    require_owner(actor, path, "force a deletion from")
}

/// The canonical (PEP 440 normalised) spelling of a version.
pub fn normalize_version(v: &str) -> Result<String> {
    v.parse::<pep440_rs::Version>()
        .map(|v| v.to_string())
        .map_err(|e| RegistryError::Invalid(format!("{v:?} is not a valid PEP 440 version: {e}")))
}
