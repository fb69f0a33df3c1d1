//! `/{user}/{index}/{project}[/{version}]`: devpi's JSON views of releases,
//! and deletion of releases.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{index_path, ApiError, AppState, BaseUrl, Remote};
use crate::names::ProjectName;
use crate::registry::{normalize_version, Actor, ResolvedProject};

/// Versions sorted by PEP 440 (unparseable ones last, by string).
pub fn sorted_versions(versions: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<(Option<pep440_rs::Version>, String)> =
        versions.map(|s| (s.parse().ok(), s)).collect();
    v.sort_by(|a, b| match (&a.0, &b.0) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    v.into_iter().map(|(_, s)| s).collect()
}

fn project_name(raw: &str) -> Result<ProjectName, ApiError> {
    ProjectName::new(raw).map_err(|e| ApiError::not_found(e.to_string()))
}

/// devpi's `versiondata` for one version: metadata plus `+links`.
fn version_json(base: &str, proj: &ResolvedProject, version: &str) -> Option<Value> {
    let (index, release) = proj.releases.get(version)?;
    let mut data: Map<String, Value> = serde_json::from_str(&release.metadata).unwrap_or_default();
    let links: Vec<Value> = proj
        .files
        .iter()
        .filter(|f| f.file.version == version)
        .map(|f| {
            let when = time::OffsetDateTime::from_unix_timestamp(f.file.created)
                .map(|t| {
                    json!([t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second()])
                })
                .unwrap_or(Value::Null);
            json!({
                "rel": "releasefile",
                "href": format!("{base}{}", super::files::file_path(&f.index, &f.file)),
                "hash_spec": format!("sha256={}", f.file.sha256),
                "hashes": {"sha256": f.file.sha256.to_hex()},
                "log": [{"what": "upload", "who": f.file.uploader, "when": when, "dst": f.index.to_string()}],
            })
        })
        .collect();
    data.insert("+links".into(), Value::Array(links));
    data.insert("+index".into(), Value::String(index.to_string()));
    Some(Value::Object(data))
}

pub async fn project(
    State(st): State<AppState>,
    Path((user, index, project)): Path<(String, String, String)>,
    BaseUrl(base): BaseUrl,
    Remote(remote): Remote,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let name = project_name(&project)?;
    let proj = st
        .registry
        .project_for(&Actor::anonymous(remote), &path, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {name} is not on index {path}")))?;
    let mut result = Map::new();
    for v in sorted_versions(proj.releases.keys().cloned()) {
        if let Some(data) = version_json(&base, &proj, &v) {
            result.insert(v, data);
        }
    }
    Ok(Json(json!({"type": "projectconfig", "result": result})))
}

pub async fn version(
    State(st): State<AppState>,
    Path((user, index, project, version)): Path<(String, String, String, String)>,
    BaseUrl(base): BaseUrl,
    Remote(remote): Remote,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let name = project_name(&project)?;
    let v = normalize_version(&version).map_err(|e| ApiError::not_found(e.to_string()))?;
    let missing = || ApiError::not_found(format!("{name} {version} is not on index {path}"));
    let proj = st
        .registry
        .project_for(&Actor::anonymous(remote), &path, &name)
        .await?
        .ok_or_else(missing)?;
    let data = version_json(&base, &proj, &v).ok_or_else(missing)?;
    Ok(Json(json!({"type": "versiondata", "result": data})))
}

fn force(q: &HashMap<String, String>) -> bool {
    q.get("force").is_some_and(|v| v != "false" && v != "0")
}

pub async fn delete_project(
    State(st): State<AppState>,
    Path((user, index, project)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let name = project_name(&project)?;
    st.registry
        .delete_release(&actor, &path, &name, None, force(&q))
        .await?;
    Ok(Json(
        json!({"message": format!("project {name} deleted from {path}")}),
    ))
}

pub async fn delete_version(
    State(st): State<AppState>,
    Path((user, index, project, version)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let name = project_name(&project)?;
    st.registry
        .delete_release(&actor, &path, &name, Some(&version), force(&q))
        .await?;
    Ok(Json(
        json!({"message": format!("{name} {version} deleted from {path}")}),
    ))
}
