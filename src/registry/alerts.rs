//! Security alerts, and the dependency-confusion watch: when a name held by
//! a private (stage) index shows up on the upstream of a mirror in that
//! index's chain, airlock records an alert — "high" when upstream has a
//! version higher than any private one (the higher-version attack), else
//! "medium". The mirror is not consulted for such names either way; the
//! alert is for the people who own the name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Actor, Registry, RegistryError, Result};
use crate::audit::{self, Action};
use crate::auth::Identity;
use crate::names::{IndexPath, ProjectName};
use crate::store::alerts;
use crate::store::indexes::IndexRow;

/// How often one private name is compared with one mirror's upstream.
const WATCH_INTERVAL: Duration = Duration::from_secs(30 * 60);

/// When each (mirror, name) pair was last looked at.
#[derive(Default)]
pub struct ConfusionWatch {
    last: Mutex<HashMap<(i64, String), Instant>>,
}

impl ConfusionWatch {
    /// Claim the right to probe now (at most once per interval per pair).
    fn claim(&self, mirror_id: i64, name: &str) -> bool {
        let mut map = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let key = (mirror_id, name.to_string());
        match map.get(&key) {
            Some(t) if t.elapsed() < WATCH_INTERVAL => false,
            _ => {
                if map.len() > 100_000 {
                    map.clear();
                }
                map.insert(key, Instant::now());
                true
            }
        }
    }
}

impl Registry {
    /// In the background, compare a private project with the upstreams of
    /// the mirrors in `index`'s chain (rate-limited; never blocks a request).
    pub fn watch_private_name(
        self: &Arc<Self>,
        index: &IndexPath,
        project: &ProjectName,
        private_versions: Vec<String>,
    ) {
        self.watch(index, project, Some(private_versions));
    }

    /// [`Self::watch_private_name`] for a project page served from the page
    /// cache: the private versions are read in the background, and only if
    /// a probe is due.
    pub fn watch_cached_private_name(self: &Arc<Self>, index: &IndexPath, project: &ProjectName) {
        self.watch(index, project, None);
    }

    fn watch(
        self: &Arc<Self>,
        index: &IndexPath,
        project: &ProjectName,
        private_versions: Option<Vec<String>>,
    ) {
        let Ok(chain) = self.resolution_order(index) else {
            return;
        };
        let mirrors: Vec<IndexRow> = chain
            .into_iter()
            .filter(|r| r.config.kind == crate::index::IndexKind::Mirror)
            .filter(|r| self.confusion.claim(r.id, project.as_str()))
            .collect();
        if mirrors.is_empty() {
            return;
        }
        let reg = Arc::clone(self);
        let (index, project) = (index.clone(), project.clone());
        tokio::spawn(async move {
            // A name promoted from the public mirror (every private file's
            // first hop is a mirror fetch) is not a private name: PyPI
            // publishing newer versions of it is no attack.
            match reg.published_privately(&index, &project).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(%index, %project, "confusion watch: the name came from the mirror; not watched");
                    return;
                }
                Err(e) => {
                    tracing::warn!(%index, %project, error = %e, "confusion watch: provenance not readable");
                    return;
                }
            }
            let private_versions = match private_versions {
                Some(v) => v,
                None => match reg.private_versions(&index, &project).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(%index, %project, error = %e, "confusion watch: private versions not readable");
                        return;
                    }
                },
            };
            for m in mirrors {
                match reg.mirror.upstream_versions(&m, &project).await {
                    Ok(Some(upstream)) if !upstream.is_empty() => {
                        reg.record_confusion(&index, &m, &project, &private_versions, upstream)
                            .await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(mirror = %m.path, %project, error = %e, "confusion watch: upstream not reachable")
                    }
                }
            }
        });
    }

    /// Was `project` first published privately somewhere in `index`'s chain
    /// (some file's history starts with an upload, not a mirror fetch)?
    /// True when nothing is known, so an unknown name stays watched.
    async fn published_privately(
        self: &Arc<Self>,
        index: &IndexPath,
        project: &ProjectName,
    ) -> Result<bool, super::RegistryError> {
        let stages: Vec<i64> = self
            .resolution_order(index)?
            .iter()
            .filter(|r| r.config.kind != crate::index::IndexKind::Mirror)
            .map(|r| r.id)
            .collect();
        let name = project.as_str().to_string();
        let first_ops: Vec<String> = self
            .store
            .db
            .read(move |c| {
                let mut out = Vec::new();
                for id in stages {
                    for f in crate::store::releases::files_of_project(c, id, &name)? {
                        out.push(first_hop_op(&f.provenance));
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(first_ops.is_empty() || first_ops.iter().any(|op| op != "mirror"))
    }

    /// The versions of `project` held by the stage indexes of `index`'s chain.
    async fn private_versions(
        self: &Arc<Self>,
        index: &IndexPath,
        project: &ProjectName,
    ) -> Result<Vec<String>, super::RegistryError> {
        let stages: Vec<i64> = self
            .resolution_order(index)?
            .iter()
            .filter(|r| r.config.kind != crate::index::IndexKind::Mirror)
            .map(|r| r.id)
            .collect();
        let name = project.as_str().to_string();
        Ok(self
            .store
            .db
            .read(move |c| {
                let mut out = Vec::new();
                for id in stages {
                    out.extend(
                        crate::store::releases::releases(c, id, &name)?
                            .into_iter()
                            .map(|r| r.version),
                    );
                }
                Ok(out)
            })
            .await?)
    }

    async fn record_confusion(
        self: &Arc<Self>,
        index: &IndexPath,
        mirror: &IndexRow,
        project: &ProjectName,
        private: &[String],
        upstream: Vec<String>,
    ) {
        let parse = |v: &String| v.parse::<pep440_rs::Version>().ok();
        let private_max = private.iter().filter_map(parse).max();
        let upstream_max = upstream.iter().filter_map(parse).max();
        let higher = match (&upstream_max, &private_max) {
            (Some(u), Some(p)) => u > p,
            (Some(_), None) => true,
            _ => false,
        };
        let severity = if higher { "high" } else { "medium" };
        let shown = |v: &Option<pep440_rs::Version>| {
            v.as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "?".into())
        };
        let message = if higher {
            format!(
                "the upstream of {} publishes {project} {} — higher than the private {} on {index}: \
                 a dependency-confusion (higher-version) attempt; {index} keeps serving only the private releases",
                mirror.path, shown(&upstream_max), shown(&private_max)
            )
        } else {
            format!(
                "the upstream of {} publishes a project named {project}, which is private on {index}; \
                 {index} keeps serving only the private releases",
                mirror.path
            )
        };
        let detail = json!({
            "mirror": mirror.path.to_string(),
            "upstream": self.mirror.upstream_of(&mirror.config),
            "upstream_versions": upstream.iter().rev().take(50).collect::<Vec<_>>(),
            "private_versions": private,
        })
        .to_string();
        let entry = Actor::system()
            .entry(Action::SecurityEvent, format!("{index}/{project}"))
            .details(super::audit_log::bounded(json!({
                "kind": "dependency_confusion", "severity": severity, "message": message,
                "mirror": mirror.path.to_string(), "upstream_max": upstream_max.as_ref().map(ToString::to_string),
                "private_max": private_max.as_ref().map(ToString::to_string),
            })));
        let dedupe = format!(
            "confusion|{}|{project}|{}",
            mirror.path,
            shown(&upstream_max)
        );
        let (i, p, m) = (index.to_string(), project.to_string(), message.clone());
        let recorded = self
            .store
            .db
            .write_log(move |tx| {
                let recorded = alerts::record(
                    tx,
                    "dependency_confusion",
                    severity,
                    &i,
                    &p,
                    &m,
                    &detail,
                    &dedupe,
                )?;
                if recorded {
                    audit::append(tx, entry)?;
                }
                Ok(recorded)
            })
            .await;
        match recorded {
            Ok(true) => tracing::warn!(target: "security", %index, %project, severity, "{message}"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "recording a security alert failed"),
        }
    }

    /// Acknowledge alert `id` with a note (root only, audited): it no
    /// longer counts as open.
    pub async fn ack_alert(self: &Arc<Self>, by: &Actor, id: i64, note: &str) -> Result<()> {
        require_root(by.identity())?;
        let note = note.trim().to_string();
        if note.is_empty() {
            return Err(RegistryError::Invalid(
                "say why the alert is acknowledged: give a note".into(),
            ));
        }
        if note.len() > 2000 {
            return Err(RegistryError::Invalid(
                "the note is longer than 2000 characters".into(),
            ));
        }
        let user = by.user().unwrap_or("root").to_string();
        let entry = by
            .entry(Action::AlertAck, format!("alert #{id}"))
            .details(json!({"alert": id, "note": note}));
        let outcome = self
            .store
            .db
            .write(move |tx| {
                let o = alerts::ack(tx, id, &user, &note)?;
                if o == alerts::AckOutcome::Acked {
                    audit::append(tx, entry)?;
                }
                Ok(o)
            })
            .await?;
        match outcome {
            alerts::AckOutcome::Acked => Ok(()),
            alerts::AckOutcome::AlreadyAcked => Err(RegistryError::Conflict(format!(
                "alert #{id} is already acknowledged"
            ))),
            alerts::AckOutcome::NoSuchAlert => {
                Err(RegistryError::NotFound(format!("there is no alert #{id}")))
            }
        }
    }

    /// Security alerts after `since_id` (root only): the open ones, or all
    /// with `include_acked`.
    pub async fn alerts_json(
        self: &Arc<Self>,
        actor: Option<&Identity>,
        since_id: i64,
        include_acked: bool,
    ) -> Result<Value> {
        require_root(actor)?;
        let rows = self
            .store
            .db
            .read(move |c| alerts::list(c, since_id, include_acked))
            .await?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|r| {
                    json!({
                        "id": r.id, "created": r.created, "kind": r.kind, "severity": r.severity,
                        "index": r.index_path, "project": r.project, "message": r.message,
                        "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
                        "acked": r.acked.as_ref().map(|(at, by, note)| json!({"at": at, "by": by, "note": note})),
                    })
                })
                .collect(),
        ))
    }
}

/// The `op` of the first hop of a file's provenance (`upload`, `mirror`);
/// an unreadable history counts as an upload (watched).
fn first_hop_op(provenance: &str) -> String {
    serde_json::from_str::<Value>(provenance)
        .ok()
        .and_then(|v| v[0]["op"].as_str().map(str::to_string))
        .unwrap_or_else(|| "upload".into())
}

fn require_root(actor: Option<&Identity>) -> Result<()> {
    match actor {
        Some(a) if a.is_root() => Ok(()),
        Some(_) => Err(RegistryError::Forbidden(
            "only root may read or acknowledge security alerts".into(),
        )),
        None => Err(RegistryError::Unauthenticated(
            "log in as root to read security alerts".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_hop_decides_where_a_file_came_from() {
        let mirrored = r#"[{"op":"mirror","index":"root/pypi"},{"op":"push","from":"root/pypi"}]"#;
        assert_eq!(super::first_hop_op(mirrored), "mirror");
        assert_eq!(super::first_hop_op(r#"[{"op":"upload"}]"#), "upload");
        assert_eq!(super::first_hop_op("not json"), "upload");
    }
}
