//! `/{user}/{index}/{project}[/{version}]`: devpi's JSON views of releases,
//! and deletion of releases.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{index_path, ApiError, AppState, BaseUrl, Remote};
use crate::index::IndexKind;
use crate::names::{IndexPath, ProjectName};
use crate::registry::{normalize_version, Actor, ResolvedProject, StoredToxResult};
use crate::store::doczips::DocZipRow;

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

/// A Unix time as devpi's log timestamp `[y, m, d, H, M, S]` (UTC).
fn log_time(ts: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .map(|t| {
            json!([
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ])
        })
        .unwrap_or(Value::Null)
}

/// What is attached to a project's releases: test results per file id,
/// doc zips per (index, version).
#[derive(Default)]
pub(crate) struct Attachments {
    pub toxresults: HashMap<i64, Vec<StoredToxResult>>,
    pub docs: HashMap<(IndexPath, String), DocZipRow>,
}

impl Attachments {
    pub(crate) async fn load(
        st: &AppState,
        name: &ProjectName,
        proj: &ResolvedProject,
    ) -> Result<Self, ApiError> {
        let reg = &st.registry;
        let is_stage = |p: &IndexPath| {
            reg.index(p)
                .is_ok_and(|r| r.config.kind == IndexKind::Stage)
        };
        // Only stage files have rows in `files` (mirror file ids are another table's).
        let ids = proj
            .files
            .iter()
            .filter(|f| is_stage(&f.index))
            .map(|f| f.file.id)
            .collect();
        let toxresults = reg.toxresults_of_files(ids).await?;
        let mut docs = HashMap::new();
        let holders: HashSet<&IndexPath> = proj.releases.values().map(|(i, _)| i).collect();
        for index in holders.into_iter().filter(|p| is_stage(p)) {
            for d in reg.docs_of_project(index, name).await? {
                docs.insert((index.clone(), d.version.clone()), d);
            }
        }
        Ok(Self { toxresults, docs })
    }
}

/// devpi's `log` of a release file: its real history from the recorded
/// provenance — the upload (who, when, where) or the mirror fetch (from
/// which URL, when), then each push hop (`src` → `dst`, who, when). A file
/// without readable provenance shows its upload here.
fn file_history(provenance: &str, uploader: &str, created: i64, index: &IndexPath) -> Value {
    let hops: Vec<Value> = serde_json::from_str(provenance).unwrap_or_default();
    let log: Vec<Value> = hops
        .iter()
        .filter_map(|h| {
            let when = |key: &str| h[key].as_i64().map(log_time).unwrap_or(Value::Null);
            match h["op"].as_str()? {
                "upload" => Some(json!({
                    "what": "upload", "who": h["by"], "when": when("at"), "dst": h["index"],
                })),
                "mirror" => Some(json!({
                    "what": "mirror", "who": Value::Null, "when": when("fetched"),
                    "src": h["url"], "dst": h["index"], "verified": h["verified"],
                })),
                // a replaced file's history starts with how often the name
                // was overwritten, as devpi's does
                "overwrite" => Some(json!({
                    "what": "overwrite", "who": h["by"], "when": when("at"), "count": h["count"],
                })),
                "push" => {
                    let mut e = json!({
                        "what": "push", "who": h["by"], "when": when("at"),
                        "src": h["from"], "dst": h["to"],
                    });
                    if h["approved_by"].as_array().is_some_and(|a| !a.is_empty()) {
                        e["approved_by"] = h["approved_by"].clone();
                    }
                    Some(e)
                }
                _ => None,
            }
        })
        .collect();
    if log.is_empty() {
        return json!([{"what": "upload", "who": uploader, "when": log_time(created), "dst": index.to_string()}]);
    }
    Value::Array(log)
}

/// devpi's `versiondata` for one version: metadata plus `+links`
/// (`releasefile`, `toxresult` with `for_href`, `doczip`).
fn version_json(
    base: &str,
    proj: &ResolvedProject,
    extra: &Attachments,
    version: &str,
) -> Option<Value> {
    let (index, release) = proj.releases.get(version)?;
    let mut data: Map<String, Value> = serde_json::from_str(&release.metadata).unwrap_or_default();
    let mut links = Vec::new();
    for f in proj.files.iter().filter(|f| f.file.version == version) {
        let file_href = format!("{base}{}", super::files::file_path(&f.index, &f.file));
        links.push(json!({
            "rel": "releasefile",
            "href": file_href,
            "hash_spec": format!("sha256={}", f.file.sha256),
            "hashes": {"sha256": f.file.sha256.to_hex()},
            "log": file_history(&f.file.provenance, &f.file.uploader, f.file.created, &f.index),
        }));
        for t in extra.toxresults.get(&f.file.id).into_iter().flatten() {
            links.push(json!({
                "rel": "toxresult",
                "href": format!("{file_href}{}", super::toxresults::toxresult_suffix(t.id)),
                "for_href": file_href,
                "hash_spec": format!("sha256={}", t.sha256),
                "hashes": {"sha256": t.sha256.to_hex()},
                "log": [{"what": "upload", "who": t.uploader, "when": log_time(t.created), "dst": f.index.to_string()}],
                "toxresult": {"passed": t.passed(), "envs": t.envs},
            }));
        }
    }
    for l in proj.links.iter().filter(|l| l.version == version) {
        // An unverified mirror file: no digest is claimed until its first
        // download pinned one (trust on first use).
        let mut entry = json!({
            "rel": "releasefile",
            "href": format!("{base}{}", super::mirror::link_path(&l.index, &l.link)),
            "hashes": {},
            "log": [{"what": "fetch", "when": log_time(l.created), "src": l.index.to_string(),
                     "url": l.link.url, "verified": false}],
        });
        if let Some(pin) = l.link.pinned_sha256 {
            entry["hash_spec"] = json!(format!("sha256={pin}"));
            entry["hashes"] = json!({"sha256": pin.to_hex()});
            entry["log"][0]["verified"] = json!("trust-on-first-use");
        }
        links.push(entry);
    }
    if let Some(d) = extra.docs.get(&(index.clone(), version.to_string())) {
        links.push(json!({
            "rel": "doczip",
            "href": format!("{base}{}", super::docs::doczip_path(index, &proj.name, version, &d.sha256)),
            "hash_spec": format!("sha256={}", d.sha256),
            "hashes": {"sha256": d.sha256.to_hex()},
            "log": [{"what": "upload", "who": d.uploader, "when": log_time(d.created), "dst": index.to_string()}],
        }));
        data.insert(
            "+doc".into(),
            Value::String(format!("{base}/{index}/{}/{version}/+doc/", proj.name)),
        );
    }
    data.insert("+links".into(), Value::Array(links));
    data.insert("+index".into(), Value::String(index.to_string()));
    Some(Value::Object(data))
}

/// `?ignore_bases` (devpi-client sends it with `list` and `remove`): only
/// what the index itself holds.
fn own_only(mut proj: ResolvedProject, path: &IndexPath) -> Option<ResolvedProject> {
    proj.files.retain(|f| &f.index == path);
    proj.links.retain(|l| &l.index == path);
    proj.releases.retain(|_, (i, _)| i == path);
    (!proj.releases.is_empty()).then_some(proj)
}

async fn resolve(
    st: &AppState,
    path: &IndexPath,
    name: &ProjectName,
    q: &HashMap<String, String>,
    remote: Option<crate::registry::Origin>,
) -> Result<Option<ResolvedProject>, ApiError> {
    let proj = st
        .registry
        .project_for(&Actor::anonymous(remote), path, name)
        .await?;
    Ok(match proj {
        Some(p) if q.contains_key("ignore_bases") => own_only(p, path),
        other => other,
    })
}

pub async fn project(
    State(st): State<AppState>,
    Path((user, index, project)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    BaseUrl(base): BaseUrl,
    Remote(remote): Remote,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let name = project_name(&project)?;
    let proj = resolve(&st, &path, &name, &q, remote)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {name} is not on index {path}")))?;
    let extra = Attachments::load(&st, &name, &proj).await?;
    let mut result = Map::new();
    for v in sorted_versions(proj.releases.keys().cloned()) {
        if let Some(data) = version_json(&base, &proj, &extra, &v) {
            result.insert(v, data);
        }
    }
    Ok(Json(json!({"type": "projectconfig", "result": result})))
}

pub async fn version(
    State(st): State<AppState>,
    Path((user, index, project, version)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    BaseUrl(base): BaseUrl,
    Remote(remote): Remote,
) -> Result<Json<Value>, ApiError> {
    let path = index_path(&user, &index)?;
    let name = project_name(&project)?;
    let v = normalize_version(&version).map_err(|e| ApiError::not_found(e.to_string()))?;
    let missing = || ApiError::not_found(format!("{name} {version} is not on index {path}"));
    let proj = resolve(&st, &path, &name, &q, remote)
        .await?
        .ok_or_else(missing)?;
    let extra = Attachments::load(&st, &name, &proj).await?;
    let data = version_json(&base, &proj, &extra, &v).ok_or_else(missing)?;
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
