//! Writing a checked devpi export into a fresh data folder through the
//! registry: users, indexes (first with the permissive import settings,
//! then with their final configuration), release files, doc zips, tox
//! results, each file's history.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::read::{open_entry, Entry, EntryKind, Export, Index, LogEntry, User};
use super::{DevpiImportError, Report};
use crate::audit::{self, Action};
use crate::auth::{legacy, AuthMethod, Identity};
use crate::digest::Sha256;
use crate::index::config::ACL_ANONYMOUS;
use crate::index::inheritance::resolution_order;
use crate::index::{IndexConfig, IndexKind};
use crate::names::{IndexPath, UserName};
use crate::policy::Policies;
use crate::registry::{Actor, Registry, UploadForm};
use crate::store::{indexes as index_table, releases, users as user_table};

/// The index configuration keys airlock knows (others are reported).
const KNOWN_KEYS: &[&str] = &[
    "type",
    "bases",
    "volatile",
    "acl_upload",
    "acl_toxresult_upload",
    "mirror_whitelist",
    "mirror_whitelist_inheritance",
    "title",
    "description",
    "mirror_url",
    "mirror_cache_expiry",
    "custom_data",
];
/// Largest tox result read from an export.
const MAX_TOXRESULT: u64 = 16 * 1024 * 1024;
/// Longest accepted email.
const MAX_EMAIL: usize = 1024;

/// An index to create: its final configuration and its files.
struct Planned {
    path: IndexPath,
    config: IndexConfig,
    entries: Vec<Entry>,
}

/// A release file as stored: the name airlock serves it under, its digest.
#[derive(Clone)]
struct Stored {
    filename: String,
    sha256: Sha256,
}

pub(super) async fn apply(
    reg: &Arc<Registry>,
    export: Export,
    policies: &Policies,
) -> Result<Report, DevpiImportError> {
    let mut report = Report {
        server_version: export.server_version.clone(),
        ..Report::default()
    };
    for (what, why) in &export.unreadable {
        report.leave_out(what, why);
    }

    let mut users = HashSet::new();
    for u in &export.users {
        import_user(reg, u, &mut report).await?;
        users.insert(u.name.as_str().to_string());
    }

    let pypi = IndexPath::parse("root/pypi").expect("valid index name");
    let mut planned = plan_indexes(export.indexes, &users, &pypi, &mut report);
    let own_pypi = users.contains("root");
    if own_pypi {
        let mut cfg = IndexConfig::new(IndexKind::Mirror, "root");
        cfg.volatile = false;
        reg.insert_index(&pypi, cfg).await?;
    }
    settle_bases(
        &mut planned,
        own_pypi.then_some(&pypi),
        policies,
        &mut report,
    );
    check_invariant(&planned, own_pypi.then_some(&pypi), policies)?;

    // Created with the final settings except bases and ACLs: during the
    // import anyone the history names may add files (the registry checks
    // every file as an upload), and no base is consulted.
    for p in &planned {
        let mut cfg = p.config.clone();
        cfg.bases.clear();
        if cfg.kind == IndexKind::Stage {
            cfg.acl_upload = vec![ACL_ANONYMOUS.to_string()];
            cfg.acl_toxresult_upload = vec![ACL_ANONYMOUS.to_string()];
        }
        reg.insert_index(&p.path, cfg).await?;
        report.indexes += 1;
    }

    for p in &planned {
        if p.config.kind == IndexKind::Mirror {
            if !p.entries.is_empty() {
                report.leave_out(
                    format!("index {}", p.path),
                    format!(
                        "{} cached mirror file(s) not imported: the mirror fetches them again",
                        p.entries.len()
                    ),
                );
            }
            continue;
        }
        import_files(reg, &export.dir, p, &mut report).await?;
    }

    // The final configurations, in one transaction.
    let finals: Vec<(IndexPath, IndexConfig)> = planned
        .iter()
        .map(|p| (p.path.clone(), p.config.clone()))
        .collect();
    let entries: Vec<_> = finals
        .iter()
        .map(|(path, cfg)| {
            Actor::system()
                .entry(Action::IndexModify, path.to_string())
                .details(json!({
                    "imported_from": "devpi", "config": cfg.to_devpi_json(),
                }))
        })
        .collect();
    reg.store
        .db
        .write(move |tx| {
            for ((path, cfg), entry) in finals.iter().zip(entries) {
                let row = index_table::get(tx, path)?.ok_or_else(|| {
                    crate::store::StoreError::Internal(format!("index {path} vanished"))
                })?;
                index_table::update_config(tx, row.id, cfg)?;
                audit::append(tx, entry)?;
            }
            Ok(())
        })
        .await?;
    Ok(report)
}

async fn import_user(
    reg: &Arc<Registry>,
    u: &User,
    report: &mut Report,
) -> Result<(), DevpiImportError> {
    let item = format!("user {}", u.name);
    let pwhash = match (&u.pwhash, &u.pwsalt) {
        (_, Some(_)) => {
            report.leave_out(
                &item,
                format!(
                    "password not carried over: devpi's old salted SHA-256 hash (pwsalt) is not \
                     accepted; set one with `airlock user passwd {} --data DATA`",
                    u.name
                ),
            );
            None
        }
        (None, None) => {
            report.leave_out(&item, "had no password on devpi; none set");
            None
        }
        (Some(h), None) => match legacy::parse_argon2(h) {
            Ok(_) => Some(h.clone()),
            Err(e) => {
                report.leave_out(
                    &item,
                    format!(
                        "password not carried over: {e}; set one with `airlock user passwd {} --data DATA`",
                        u.name
                    ),
                );
                None
            }
        },
    };
    let email = match &u.email {
        Some(e) if e.len() > MAX_EMAIL || e.chars().any(char::is_control) => {
            report.leave_out(
                &item,
                "email not carried over (longer than 1024 bytes or with control characters)",
            );
            None
        }
        other => other.clone(),
    };
    let name = u.name.as_str().to_string();
    let entry = Actor::system()
        .entry(Action::UserCreate, name.as_str())
        .details(json!({"email": email, "imported_from": "devpi",
                        "password": if pwhash.is_some() { "devpi argon2 hash" } else { "none" }}));
    let has_pw = pwhash.is_some();
    let created = reg
        .store
        .db
        .write(move |tx| {
            let created = user_table::create(tx, &name, pwhash.as_deref(), email.as_deref())?;
            if created {
                audit::append(tx, entry)?;
            }
            Ok(created)
        })
        .await?;
    if created {
        report.users += 1;
        if has_pw {
            report.users_with_password += 1;
        }
    } else {
        report.leave_out(&item, "listed twice in the export; the first kept");
    }
    Ok(())
}

/// Each exported index as airlock will have it, or why not.
fn plan_indexes(
    indexes: Vec<Index>,
    users: &HashSet<String>,
    pypi: &IndexPath,
    report: &mut Report,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for ix in indexes {
        let item = format!("index {}", ix.path);
        for (what, why) in &ix.unreadable {
            report.leave_out(what, why);
        }
        if &ix.path == pypi {
            let files = ix.entries.len();
            report.leave_out(
                &item,
                format!(
                    "devpi's own PyPI mirror{}: airlock has its own root/pypi (upstream from \
                     `airlock serve --upstream`); {files} cached file(s) not imported, fetched again on demand",
                    ix.config
                        .get("mirror_url")
                        .and_then(Value::as_str)
                        .map(|u| format!(" ({})", crate::echo::echo(u)))
                        .unwrap_or_default()
                ),
            );
            continue;
        }
        if !users.contains(ix.path.user.as_str()) {
            report.leave_out(
                &item,
                format!(
                    "its owner {} was not imported; {} file(s) not imported",
                    ix.path.user,
                    ix.entries.len()
                ),
            );
            continue;
        }
        let mut body = Map::new();
        for (k, v) in &ix.config {
            if KNOWN_KEYS.contains(&k.as_str()) {
                if k != "bases" {
                    body.insert(k.clone(), v.clone());
                }
            } else if !v.is_null() && k != "projects" && k != "pypi_whitelist" {
                report.change(
                    &item,
                    format!(
                        "setting {} dropped (airlock has no such setting)",
                        crate::echo::echo(k)
                    ),
                );
            }
        }
        let mut config = match IndexConfig::from_create_request(&ix.path, &body) {
            Ok(c) => c,
            Err(e) => {
                report.leave_out(
                    &item,
                    format!(
                        "its configuration is not usable: {e}; {} file(s) not imported",
                        ix.entries.len()
                    ),
                );
                continue;
            }
        };
        if config.kind == IndexKind::Stage {
            config.bases = bases_of(&ix, report);
        }
        out.push(Planned {
            path: ix.path,
            config,
            entries: ix.entries,
        });
    }
    out
}

fn bases_of(ix: &Index, report: &mut Report) -> Vec<IndexPath> {
    let item = format!("index {}", ix.path);
    let list: Vec<String> = match ix.config.get("bases") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|b| match b.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    report.change(&item, "a base that is not a string dropped");
                    None
                }
            })
            .collect(),
        Some(_) => {
            report.change(&item, "bases not a list: none kept");
            Vec::new()
        }
    };
    let mut bases = Vec::new();
    for b in list {
        match IndexPath::parse(&b) {
            Ok(p) if p == ix.path => report.change(&item, "itself as a base dropped"),
            Ok(p) if bases.contains(&p) => {}
            Ok(p) => bases.push(p),
            Err(e) => report.change(
                &item,
                format!("base {:?} dropped: {e}", crate::echo::echo(&b)),
            ),
        }
    }
    bases
}

/// Bases must exist; a production index (under the policies in force)
/// never reaches a mirror through its bases: such bases are dropped.
fn settle_bases(
    planned: &mut [Planned],
    pypi: Option<&IndexPath>,
    policies: &Policies,
    report: &mut Report,
) {
    let known: HashSet<IndexPath> = planned
        .iter()
        .map(|p| p.path.clone())
        .chain(pypi.cloned())
        .collect();
    for p in planned.iter_mut() {
        let item = format!("index {}", p.path);
        p.config.bases.retain(|b| {
            let ok = known.contains(b);
            if !ok {
                report.change(&item, format!("base {b} dropped: it was not imported"));
            }
            ok
        });
    }
    let facts: HashMap<IndexPath, (IndexKind, Vec<IndexPath>)> = planned
        .iter()
        .map(|p| (p.path.clone(), (p.config.kind, p.config.bases.clone())))
        .chain(pypi.map(|p| (p.clone(), (IndexKind::Mirror, Vec::new()))))
        .collect();
    let reaches_mirror = |start: &IndexPath| {
        resolution_order(start, |i| facts.get(i).map(|f| f.1.clone()))
            .iter()
            .any(|i| facts.get(i).is_some_and(|f| f.0 == IndexKind::Mirror))
    };
    for p in planned.iter_mut() {
        let item = format!("index {}", p.path);
        let Some(policy) = policies.index_policy(&p.path) else {
            continue;
        };
        report.change(
            &item,
            format!(
                "managed by the policy at {}: its type, bases, volatile and ACLs take the \
                 policy's values when the server starts",
                policy.defined_at
            ),
        );
        if !policy.production {
            continue;
        }
        p.config.bases.retain(|b| {
            let bad = reaches_mirror(b);
            if bad {
                report.change(
                    &item,
                    format!(
                        "base {b} dropped: the index is production (policy at {}) and production \
                         indexes never inherit from a mirror ({b} is or reaches one)",
                        policy.defined_at
                    ),
                );
            }
            !bad
        });
    }
}

/// The same check the server makes at start: nothing imported may break it.
fn check_invariant(
    planned: &[Planned],
    pypi: Option<&IndexPath>,
    policies: &Policies,
) -> Result<(), DevpiImportError> {
    let facts: BTreeMap<IndexPath, (IndexKind, Vec<IndexPath>)> = planned
        .iter()
        .map(|p| (p.path.clone(), (p.config.kind, p.config.bases.clone())))
        .chain(pypi.map(|p| (p.clone(), (IndexKind::Mirror, Vec::new()))))
        .collect();
    let lookup = |p: &IndexPath| {
        let (kind, bases) = facts.get(p)?.clone();
        let production = policies.index_policy(p).is_some_and(|ip| ip.production);
        Some((kind, bases, production))
    };
    crate::policy::check_production_invariant(lookup, facts.keys())
        .map_err(|e| DevpiImportError::Invariant(e.to_string()))
}

/// Who an entry's history says added it (its first upload), if a valid name.
fn first_uploader(log: &[LogEntry]) -> Option<String> {
    log.iter()
        .find(|l| l.what == "upload")
        .and_then(|l| l.who.as_deref())
        .filter(|w| UserName::new(w).is_ok())
        .map(str::to_string)
}

fn actor_for(user: &str) -> Actor {
    Actor::new(
        Some(Identity::new(user.to_string(), AuthMethod::Password)),
        None,
    )
}

/// devpi's log of a file as airlock provenance hops, then the import.
fn provenance(log: &[LogEntry], server_version: &str) -> Value {
    let mut hops: Vec<Value> = log
        .iter()
        .filter_map(|l| match l.what.as_str() {
            "upload" => Some(json!({"op": "upload", "index": l.dst, "by": l.who, "at": l.when})),
            "push" => {
                Some(json!({"op": "push", "from": l.src, "to": l.dst, "by": l.who, "at": l.when}))
            }
            "overwrite" => {
                Some(json!({"op": "overwrite", "by": l.who, "at": l.when, "count": l.count}))
            }
            _ => None,
        })
        .collect();
    hops.push(
        json!({"op": "import", "from": format!("devpi-server {server_version}"),
                     "at": crate::store::now()}),
    );
    Value::Array(hops)
}

async fn import_files(
    reg: &Arc<Registry>,
    dir: &std::path::Path,
    p: &Planned,
    report: &mut Report,
) -> Result<(), DevpiImportError> {
    let owner = p.path.user.as_str().to_string();
    let index_id = reg.index(&p.path)?.id;
    // devpi's filename → the stored file (for the tox results).
    let mut stored: HashMap<String, Stored> = HashMap::new();
    let order = [
        EntryKind::ReleaseFile,
        EntryKind::DocZip,
        EntryKind::ToxResult,
    ];
    for kind in order {
        for e in p.entries.iter().filter(|e| e.kind == kind) {
            let item = e.relpath.clone();
            let Some(declared) = e.sha256 else {
                report.leave_out(&item, "the export records no sha256 for it: refused");
                continue;
            };
            let who = first_uploader(&e.log).unwrap_or_else(|| owner.clone());
            match kind {
                EntryKind::ReleaseFile => {
                    let temp = match copy_verified(reg, dir, e, &declared).await? {
                        Ok(t) => t,
                        Err(why) => {
                            report.leave_out(&item, why);
                            continue;
                        }
                    };
                    let form = UploadForm {
                        sha256_digest: Some(declared.to_hex()),
                        ..UploadForm::default()
                    };
                    match reg
                        .upload_file(&actor_for(&who), &p.path, form, e.filename(), temp)
                        .await
                    {
                        Ok(up) if up.unchanged => report.leave_out(
                            &item,
                            format!(
                                "the same file is listed twice (as {}); imported once",
                                up.filename
                            ),
                        ),
                        Ok(up) => {
                            let hops = provenance(&e.log, &report.server_version).to_string();
                            let created = e.log.iter().find_map(|l| l.when);
                            let name = up.filename.clone();
                            reg.store
                                .db
                                .write(move |tx| {
                                    releases::set_history(tx, index_id, &name, &hops, created)
                                })
                                .await?;
                            stored.insert(
                                e.filename().to_string(),
                                Stored {
                                    filename: up.filename,
                                    sha256: up.sha256,
                                },
                            );
                            report.release_files += 1;
                        }
                        Err(err) => report.leave_out(&item, format!("refused: {err}")),
                    }
                }
                EntryKind::DocZip => {
                    let temp = match copy_verified(reg, dir, e, &declared).await? {
                        Ok(t) => t,
                        Err(why) => {
                            report.leave_out(&item, why);
                            continue;
                        }
                    };
                    let id = Identity::new(who, AuthMethod::Password);
                    match reg
                        .upload_docs(&id, &p.path, Some(&e.project), Some(&e.version), temp)
                        .await
                    {
                        Ok(_) => report.doc_zips += 1,
                        Err(err) => report.leave_out(&item, format!("refused: {err}")),
                    }
                }
                EntryKind::ToxResult => {
                    let Some((prefix, for_name)) = &e.for_file else {
                        continue;
                    };
                    let Some(target) = stored
                        .get(for_name)
                        .filter(|s| s.sha256.to_hex().starts_with(prefix.as_str()))
                    else {
                        report.leave_out(
                            &item,
                            format!("its release file {for_name} was not imported"),
                        );
                        continue;
                    };
                    let body = match read_verified(dir, e, &declared).await? {
                        Ok(b) => b,
                        Err(why) => {
                            report.leave_out(&item, why);
                            continue;
                        }
                    };
                    let actor = e
                        .log
                        .iter()
                        .find_map(|l| l.who.as_deref())
                        .filter(|w| UserName::new(w).is_ok())
                        .map(actor_for)
                        .unwrap_or_else(|| Actor::anonymous(None));
                    match reg
                        .import_toxresult(
                            &actor,
                            &p.path,
                            &target.filename,
                            &target.sha256.to_hex(),
                            &body,
                        )
                        .await
                    {
                        Ok(_) => report.tox_results += 1,
                        Err(err) => report.leave_out(&item, format!("refused: {err}")),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Copy an export file into a temp blob, then compare its sha256 with the
/// one the export declares. The inner error is a per-file refusal.
async fn copy_verified(
    reg: &Arc<Registry>,
    dir: &std::path::Path,
    e: &Entry,
    declared: &Sha256,
) -> Result<Result<crate::store::TempBlob, String>, DevpiImportError> {
    let mut temp = reg.store.blobs.create_temp()?;
    let (dir, relpath, declared) = (dir.to_path_buf(), e.relpath.clone(), *declared);
    let out = tokio::task::spawn_blocking(move || {
        let mut f = match open_entry(&dir, &relpath) {
            Ok(f) => f,
            Err(why) => return Ok(Err(why)),
        };
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) => return Ok(Err(format!("cannot read it: {err}"))),
            };
            temp.write_all(&buf[..n])?;
        }
        let got = temp.sha256();
        if got != declared {
            return Ok(Err(format!(
                "sha256 mismatch: the bytes hash to {got}, the export declares {declared}: refused"
            )));
        }
        Ok(Ok(temp))
    })
    .await
    .map_err(|err| crate::store::StoreError::Internal(err.to_string()))?;
    out.map_err(DevpiImportError::Store)
}

/// Read a small export file (a tox result) and check its sha256.
async fn read_verified(
    dir: &std::path::Path,
    e: &Entry,
    declared: &Sha256,
) -> Result<Result<Vec<u8>, String>, DevpiImportError> {
    let (dir, relpath, declared) = (dir.to_path_buf(), e.relpath.clone(), *declared);
    tokio::task::spawn_blocking(move || {
        let f = match open_entry(&dir, &relpath) {
            Ok(f) => f,
            Err(why) => return Err(why),
        };
        let mut body = Vec::new();
        f.take(MAX_TOXRESULT + 1)
            .read_to_end(&mut body)
            .map_err(|err| format!("cannot read it: {err}"))?;
        if body.len() as u64 > MAX_TOXRESULT {
            return Err(format!("larger than {MAX_TOXRESULT} bytes: refused"));
        }
        let got = crate::digest::Sha256::of(&body);
        if got != declared {
            return Err(format!(
                "sha256 mismatch: the bytes hash to {got}, the export declares {declared}: refused"
            ));
        }
        Ok(body)
    })
    .await
    .map_err(|err| DevpiImportError::Store(crate::store::StoreError::Internal(err.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IndexPath {
        IndexPath::parse(s).unwrap()
    }

    fn stage(path: &str, bases: &[&str]) -> Planned {
        let path = ip(path);
        let mut config = IndexConfig::new(IndexKind::Stage, path.user.as_str());
        config.bases = bases.iter().map(|b| ip(b)).collect();
        Planned {
            path,
            config,
            entries: Vec::new(),
        }
    }

    #[test]
    fn production_indexes_lose_the_bases_that_reach_a_mirror() {
        let policies = Policies::parse_str(
            "p.toml",
            r#"
            [index."acme/prod"]
            type = "stage"
            production = true
            bases = []
            "#,
        )
        .unwrap();
        let pypi = ip("root/pypi");
        let mut planned = vec![
            stage(
                "acme/prod",
                &["acme/dev", "acme/lib", "root/pypi", "gone/away"],
            ),
            stage("acme/dev", &["root/pypi"]),
            stage("acme/lib", &[]),
            // not production: keeps its mirror base
            stage("acme/play", &["acme/dev"]),
        ];
        let mut report = Report::default();
        settle_bases(&mut planned, Some(&pypi), &policies, &mut report);
        assert_eq!(planned[0].config.bases, vec![ip("acme/lib")]);
        assert_eq!(planned[1].config.bases, vec![ip("root/pypi")]);
        assert_eq!(planned[3].config.bases, vec![ip("acme/dev")]);
        let text = report.to_string();
        assert!(
            text.contains("base gone/away dropped: it was not imported"),
            "{text}"
        );
        assert!(
            text.contains("base acme/dev dropped: the index is production"),
            "{text}"
        );
        assert!(
            text.contains("base root/pypi dropped: the index is production"),
            "{text}"
        );
        assert!(text.contains("managed by the policy at p.toml"), "{text}");
        check_invariant(&planned, Some(&pypi), &policies).unwrap();

        // the final check catches what slipped through
        planned[0].config.bases.push(ip("acme/dev"));
        assert!(check_invariant(&planned, Some(&pypi), &policies).is_err());
    }

    #[test]
    fn devpi_logs_become_provenance_hops() {
        let log = vec![
            LogEntry {
                what: "upload".into(),
                who: Some("alice".into()),
                when: Some(100),
                src: None,
                dst: Some("alice/dev".into()),
                count: None,
            },
            LogEntry {
                what: "push".into(),
                who: Some("root".into()),
                when: Some(200),
                src: Some("alice/dev".into()),
                dst: Some("root/prod".into()),
                count: None,
            },
            LogEntry {
                what: "strange".into(),
                who: None,
                when: None,
                src: None,
                dst: None,
                count: None,
            },
        ];
        let hops = provenance(&log, "6.20.3");
        let ops: Vec<&str> = hops
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["op"].as_str().unwrap())
            .collect();
        assert_eq!(ops, ["upload", "push", "import"]);
        assert_eq!(hops[0]["index"], "alice/dev");
        assert_eq!(hops[1]["from"], "alice/dev");
        assert_eq!(hops[1]["to"], "root/prod");
        assert_eq!(hops[2]["from"], "devpi-server 6.20.3");
        assert_eq!(first_uploader(&log).as_deref(), Some("alice"));
    }
}
