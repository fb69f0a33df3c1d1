//! Reads across inherited indexes: the projects an index sees and the
//! files of one project, merged along the resolution order.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{Registry, Result};
use crate::names::{IndexPath, ProjectName};
use crate::store::releases::{self, FileRow, ProjectRow, ReleaseRow};

/// A file as seen from an index: the file and the index that holds it.
#[derive(Debug, Clone)]
pub struct ResolvedFile {
    pub index: IndexPath,
    pub file: FileRow,
}

/// A project as seen from an index.
#[derive(Debug, Clone)]
pub struct ResolvedProject {
    pub name: String,
    pub display_name: String,
    /// Files, the requested index's own first, then each base's in order;
    /// a filename already seen earlier in the chain is shadowed.
    pub files: Vec<ResolvedFile>,
    /// Releases (version → metadata JSON), nearest index wins.
    pub releases: BTreeMap<String, (IndexPath, ReleaseRow)>,
}

impl Registry {
    /// Every project visible from `path` (own and inherited), sorted by name.
    pub async fn visible_projects(self: &Arc<Self>, path: &IndexPath) -> Result<Vec<ProjectRow>> {
        let ids: Vec<i64> = self.resolution_order(path)?.iter().map(|r| r.id).collect();
        let rows = self
            .store
            .db
            .read(move |c| {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for id in ids {
                    for p in releases::projects(c, id)? {
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

    /// A project as seen from `path`, or `None` if no index in the chain has it.
    pub async fn project(
        self: &Arc<Self>,
        path: &IndexPath,
        project: &ProjectName,
    ) -> Result<Option<ResolvedProject>> {
        let chain: Vec<(IndexPath, i64)> = self
            .resolution_order(path)?
            .into_iter()
            .map(|r| (r.path, r.id))
            .collect();
        let name = project.as_str().to_string();
        self.store
            .db
            .read(move |c| {
                let mut found: Option<ResolvedProject> = None;
                let mut seen_files = HashSet::new();
                for (ipath, id) in chain {
                    let Some(p) = releases::project(c, id, &name)? else {
                        continue;
                    };
                    let rp = found.get_or_insert_with(|| ResolvedProject {
                        name: p.name.clone(),
                        display_name: p.display_name.clone(),
                        files: Vec::new(),
                        releases: BTreeMap::new(),
                    });
                    for f in releases::files_of_project(c, id, &name)? {
                        if seen_files.insert(f.filename.clone()) {
                            rp.files.push(ResolvedFile {
                                index: ipath.clone(),
                                file: f,
                            });
                        }
                    }
                    for r in releases::releases(c, id, &name)? {
                        rp.releases
                            .entry(r.version.clone())
                            .or_insert_with(|| (ipath.clone(), r));
                    }
                }
                Ok(found)
            })
            .await
            .map_err(Into::into)
    }

    /// A file of `path` itself (not inherited) by filename.
    pub async fn own_file(
        self: &Arc<Self>,
        path: &IndexPath,
        filename: &str,
    ) -> Result<Option<FileRow>> {
        let id = self.index(path)?.id;
        let f = filename.to_string();
        Ok(self
            .store
            .db
            .read(move |c| releases::find_file(c, id, &f))
            .await?)
    }
}
