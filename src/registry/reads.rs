//! Reads across inherited indexes: the projects an index sees and the
//! files of one project, merged along the resolution order.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{Actor, Registry, Result};
use crate::index::mirror_whitelist::mirror_allowed;
use crate::index::{IndexConfig, IndexKind};
use crate::names::{IndexPath, ProjectName};
use crate::store::mirror as store_mirror;
use crate::store::releases::{self, FileRow, ProjectRow, ReleaseRow};

/// A file as seen from an index: the file and the index that holds it.
#[derive(Debug, Clone)]
pub struct ResolvedFile {
    pub index: IndexPath,
    pub file: FileRow,
}

/// A file a mirror lists without a usable sha256 (`--mirror-unverified-files`),
/// as seen from an index.
#[derive(Debug, Clone)]
pub struct ResolvedLink {
    pub index: IndexPath,
    pub link: store_mirror::MirrorLinkRow,
    /// From the filename; empty if it cannot be parsed.
    pub version: String,
    /// Unix seconds: upstream's upload time, else when the page was fetched.
    pub created: i64,
}

/// A project as seen from an index.
#[derive(Debug, Clone)]
pub struct ResolvedProject {
    pub name: String,
    pub display_name: String,
    /// Files, the requested index's own first, then each base's in order;
    /// a filename already seen earlier in the chain is shadowed.
    pub files: Vec<ResolvedFile>,
    /// Unverified links of mirrors, shadowed like files (a name in `files`
    /// hides a link of that name and the other way round).
    pub links: Vec<ResolvedLink>,
    /// Releases (version → metadata JSON), nearest index wins.
    pub releases: BTreeMap<String, (IndexPath, ReleaseRow)>,
    /// Some of it comes from a mirror's cache that upstream could not
    /// confirm (upstream down): served anyway, flagged to the client.
    pub stale: bool,
    /// A mirror was asked for this project (its page then depends on
    /// upstream freshness, not only on the database).
    pub from_mirror: bool,
}

/// What one index of the chain holds of a project.
type Part = (ProjectRow, Vec<FileRow>, Vec<ReleaseRow>);

impl Registry {
    /// Every project visible from `path` (own and inherited), sorted by name.
    /// A mirror contributes the projects it has cached, not all of upstream.
    pub async fn visible_projects(self: &Arc<Self>, path: &IndexPath) -> Result<Vec<ProjectRow>> {
        let ids: Vec<(i64, bool)> = self
            .resolution_order(path)?
            .iter()
            .map(|r| (r.id, r.config.kind == IndexKind::Mirror))
            .collect();
        let rows = self
            .store
            .db
            .read(move |c| {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for (id, is_mirror) in ids {
                    let projects = if is_mirror {
                        store_mirror::cached_projects(c, id)?
                    } else {
                        releases::projects(c, id)?
                    };
                    for p in projects {
                        if seen.insert(p.name.clone()) {
                            out.push(p);
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        let mut rows = rows;
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }

    /// [`Self::project_for`] without an [`Actor`] (an install-time
    /// typosquat refusal is then recorded without a user or address).
    pub async fn project(
        self: &Arc<Self>,
        path: &IndexPath,
        project: &ProjectName,
    ) -> Result<Option<ResolvedProject>> {
        self.project_for(&Actor::system(), path, project).await
    }

    /// A project as seen from `path` by `actor`, or `None` if no index in
    /// the chain has it. Mirrors in the chain are asked (fetching upstream on demand)
    /// unless a stage index of the chain holds the name and it is not
    /// whitelisted: see [`mirror_allowed`].
    pub async fn project_for(
        self: &Arc<Self>,
        actor: &Actor,
        path: &IndexPath,
        project: &ProjectName,
    ) -> Result<Option<ResolvedProject>> {
        let chain = self.resolution_order(path)?;
        let name = project.as_str().to_string();
        let stages: Vec<(usize, i64)> = chain
            .iter()
            .enumerate()
            .filter(|(_, r)| r.config.kind != IndexKind::Mirror)
            .map(|(i, r)| (i, r.id))
            .collect();
        let mut parts: BTreeMap<usize, Part> = self
            .store
            .db
            .read(move |c| {
                let mut out = BTreeMap::new();
                for (i, id) in stages {
                    let Some(p) = releases::project(c, id, &name)? else {
                        continue;
                    };
                    let files = releases::files_of_project(c, id, &name)?;
                    let rels = releases::releases(c, id, &name)?;
                    out.insert(i, (p, files, rels));
                }
                Ok(out)
            })
            .await?;

        let holders: Vec<&IndexConfig> = parts
            .keys()
            .filter_map(|i| chain.get(*i))
            .map(|r| &r.config)
            .collect();
        let requested = chain.first().map(|r| &r.config);
        let ask_mirrors =
            requested.is_some_and(|req| mirror_allowed(project.as_str(), req, &holders));
        let has_mirror = chain.iter().any(|r| r.config.kind == IndexKind::Mirror);
        if has_mirror && !ask_mirrors && !parts.is_empty() {
            // A private name shadows the mirror; watch upstream for it.
            let versions = parts
                .values()
                .flat_map(|(_, _, rels)| rels.iter().map(|r| r.version.clone()))
                .collect();
            self.watch_private_name(path, project, versions);
        }
        if ask_mirrors && has_mirror && parts.is_empty() {
            // Install-time typosquat check: a name no private index holds is
            // about to come from upstream; a look-alike is refused (block)
            // before a single byte of it is fetched.
            let mirror = chain
                .iter()
                .find(|r| r.config.kind == IndexKind::Mirror)
                .map(|r| &r.config);
            let gate = match mirror {
                Some(m) => self.typo_gate_install(actor, path, project, m).await?,
                None => self.typo_gate_for(actor, path, project, "install").await?,
            };
            if let super::Gate::Warned(v) = gate {
                tracing::warn!(target: "security", index = %path, %project, reason = %v.reason,
                    "serving a suspicious name from the mirror (warn mode)");
            }
        }
        let mut stale = false;
        let mut mirror_error = None;
        let mut mirror_links: BTreeMap<usize, (Vec<store_mirror::MirrorLinkRow>, i64)> =
            BTreeMap::new();
        if ask_mirrors {
            for (i, row) in chain.iter().enumerate() {
                if row.config.kind != IndexKind::Mirror {
                    continue;
                }
                match self.mirror.project(row, project).await {
                    Ok(Some(mp)) => {
                        stale |= mp.stale;
                        let p = ProjectRow {
                            name: project.as_str().to_string(),
                            display_name: mp.display_name.clone(),
                        };
                        parts.insert(i, (p, mp.file_rows(row.id), mp.release_rows()));
                        if !mp.links.is_empty() {
                            mirror_links.insert(i, (mp.links, mp.fetched));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(index = %row.path, %project, error = %e, "mirror not available");
                        mirror_error.get_or_insert(e);
                    }
                }
            }
        }

        let mut found: Option<ResolvedProject> = None;
        let mut seen_files = HashSet::new();
        for (i, (p, files, rels)) in parts {
            let Some(ipath) = chain.get(i).map(|r| r.path.clone()) else {
                continue;
            };
            let rp = found.get_or_insert_with(|| ResolvedProject {
                name: p.name.clone(),
                display_name: p.display_name.clone(),
                files: Vec::new(),
                links: Vec::new(),
                releases: BTreeMap::new(),
                stale: false,
                from_mirror: false,
            });
            for f in files {
                if seen_files.insert(f.filename.clone()) {
                    rp.files.push(ResolvedFile {
                        index: ipath.clone(),
                        file: f,
                    });
                }
            }
            let (links, fetched) = mirror_links.remove(&i).unwrap_or_default();
            for l in links {
                if seen_files.insert(l.filename.clone()) {
                    rp.links.push(ResolvedLink {
                        index: ipath.clone(),
                        version: crate::dist::DistFilename::parse(&l.filename)
                            .map(|p| p.version.to_string())
                            .unwrap_or_default(),
                        created: l.upload_time.unwrap_or(fetched),
                        link: l,
                    });
                }
            }
            for r in rels {
                rp.releases
                    .entry(r.version.clone())
                    .or_insert_with(|| (ipath.clone(), r));
            }
        }
        match (found, mirror_error) {
            (None, Some(e)) => Err(e.into()),
            (Some(mut rp), err) => {
                rp.stale = stale || err.is_some();
                rp.from_mirror = ask_mirrors && has_mirror;
                Ok(Some(rp))
            }
            (None, None) => Ok(None),
        }
    }

    /// A file of `path` itself (not inherited) by filename.
    pub async fn own_file(
        self: &Arc<Self>,
        path: &IndexPath,
        filename: &str,
    ) -> Result<Option<FileRow>> {
        let id = self.index(path)?.id;
        // read before the database is (see `file_rows`)
        let generation = self.content_generation();
        if let Some(known) = self.file_rows.get(id, filename, generation) {
            return Ok(known);
        }
        let f = filename.to_string();
        let row = self
            .store
            .db
            .read(move |c| releases::find_file(c, id, &f))
            .await?;
        self.file_rows.insert(id, filename, generation, row.clone());
        Ok(row)
    }
}
