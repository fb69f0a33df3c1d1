//! Mirror caches (`mirror_pages`, `mirror_files`, `mirror_links`): what
//! airlock knows about the projects of an upstream index, and when it last
//! asked.

use super::sql::{Conn, Row};

use super::StoreError;
use crate::digest::Sha256;

/// What is cached about one project of a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRow {
    pub project: String,
    pub display_name: String,
    /// `false`: upstream answered "no such project" (negative cache).
    pub found: bool,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Upstream's `X-PyPI-Last-Serial`, when it sends one.
    pub serial: Option<i64>,
    /// Versions upstream listed (PEP 700); may be empty for HTML upstreams.
    pub versions: Vec<String>,
    /// Unix seconds of the last successful answer from upstream.
    pub fetched: i64,
}

/// One file a mirrored page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFileRow {
    pub project: String,
    pub filename: String,
    /// Where upstream serves it (absolute http(s) URL, no fragment).
    pub url: String,
    pub sha256: Sha256,
    pub requires_python: Option<String>,
    /// `Some("")`: yanked without a reason.
    pub yanked: Option<String>,
    pub size: Option<u64>,
    pub upload_time: Option<i64>,
    /// Digest of the PEP 658 metadata file, when upstream offers one.
    pub metadata_sha256: Option<Sha256>,
}

/// A file a mirrored page lists without a usable sha256, kept under
/// `--mirror-unverified-files` (see `mirror::unverified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorLinkRow {
    pub project: String,
    pub filename: String,
    /// Where upstream serves it (absolute http(s) URL, no fragment).
    pub url: String,
    /// What upstream declared as the sha256 when it is not one (such as
    /// `1234`): listed under it, as devpi does, but never downloadable.
    pub malformed_sha256: Option<String>,
    /// Digest of the bytes first downloaded (trust on first use), and when.
    pub pinned_sha256: Option<Sha256>,
    pub pinned_at: Option<i64>,
    pub requires_python: Option<String>,
    pub yanked: Option<String>,
    pub size: Option<u64>,
    pub upload_time: Option<i64>,
}

fn bad_sha(i: usize, s: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("bad sha256 {s:?}").into(),
    )
}

const FILE_SELECT: &str = "SELECT project, filename, url, sha256, requires_python, yanked, size, \
    upload_time, metadata_sha256 FROM mirror_files";

fn file_from_row(r: &Row<'_>) -> Result<MirrorFileRow, StoreError> {
    let sha: String = r.get(3)?;
    let meta: Option<String> = r.get(8)?;
    Ok(MirrorFileRow {
        project: r.get(0)?,
        filename: r.get(1)?,
        url: r.get(2)?,
        sha256: sha.parse().map_err(|_| bad_sha(3, &sha))?,
        requires_python: r.get(4)?,
        yanked: r.get(5)?,
        size: r.get::<Option<i64>>(6)?.map(|s| s.max(0) as u64),
        upload_time: r.get(7)?,
        metadata_sha256: match meta {
            Some(m) => Some(m.parse().map_err(|_| bad_sha(8, &m))?),
            None => None,
        },
    })
}

const LINK_SELECT: &str = "SELECT project, filename, url, malformed_sha256, pinned_sha256, \
    pinned_at, requires_python, yanked, size, upload_time FROM mirror_links";

fn link_from_row(r: &Row<'_>) -> Result<MirrorLinkRow, StoreError> {
    let pin: Option<String> = r.get(4)?;
    Ok(MirrorLinkRow {
        project: r.get(0)?,
        filename: r.get(1)?,
        url: r.get(2)?,
        malformed_sha256: r.get(3)?,
        pinned_sha256: match pin {
            Some(p) => Some(p.parse().map_err(|_| bad_sha(4, &p))?),
            None => None,
        },
        pinned_at: r.get(5)?,
        requires_python: r.get(6)?,
        yanked: r.get(7)?,
        size: r.get::<Option<i64>>(8)?.map(|s| s.max(0) as u64),
        upload_time: r.get(9)?,
    })
}

pub fn page(conn: &Conn<'_>, index_id: i64, project: &str) -> Result<Option<PageRow>, StoreError> {
    let raw = conn.query_opt(
        "SELECT project, display_name, found, etag, last_modified, serial, versions, fetched
             FROM mirror_pages WHERE index_id = ?1 AND project = ?2",
        &[&index_id, &project],
        |r| {
            Ok((
                PageRow {
                    project: r.get(0)?,
                    display_name: r.get(1)?,
                    found: r.get(2)?,
                    etag: r.get(3)?,
                    last_modified: r.get(4)?,
                    serial: r.get(5)?,
                    versions: Vec::new(),
                    fetched: r.get(7)?,
                },
                r.get::<String>(6)?,
            ))
        },
    )?;
    raw.map(|(mut row, versions)| {
        row.versions = serde_json::from_str(&versions).map_err(|e| {
            StoreError::Corrupt(format!("versions of mirrored project {}: {e}", row.project))
        })?;
        Ok(row)
    })
    .transpose()
}

pub fn files_of_project(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
) -> Result<Vec<MirrorFileRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{FILE_SELECT} WHERE index_id = ?1 AND project = ?2 ORDER BY filename"),
        &[&index_id, &project],
        file_from_row,
    )?;
    Ok(rows)
}

/// Files of a mirror with this filename (normally one; a hostile upstream
/// could list one name under several projects, hence the list).
pub fn files_named(
    conn: &Conn<'_>,
    index_id: i64,
    filename: &str,
) -> Result<Vec<MirrorFileRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{FILE_SELECT} WHERE index_id = ?1 AND filename = ?2"),
        &[&index_id, &filename],
        file_from_row,
    )?;
    Ok(rows)
}

pub fn links_of_project(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
) -> Result<Vec<MirrorLinkRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{LINK_SELECT} WHERE index_id = ?1 AND project = ?2 ORDER BY filename"),
        &[&index_id, &project],
        link_from_row,
    )?;
    Ok(rows)
}

/// Unverified links of a mirror with this filename (see [`files_named`]).
pub fn links_named(
    conn: &Conn<'_>,
    index_id: i64,
    filename: &str,
) -> Result<Vec<MirrorLinkRow>, StoreError> {
    let rows = conn.query_map(
        &format!("{LINK_SELECT} WHERE index_id = ?1 AND filename = ?2"),
        &[&index_id, &filename],
        link_from_row,
    )?;
    Ok(rows)
}

/// Pin the digest of a link's first download, unless one is pinned
/// already. Returns the pin in force afterwards (`None`: the link is no
/// longer listed), which the caller compares with what it downloaded.
pub fn pin_link(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    filename: &str,
    sha: &Sha256,
    at: i64,
) -> Result<Option<Sha256>, StoreError> {
    conn.execute(
        "UPDATE mirror_links SET pinned_sha256 = ?4, pinned_at = ?5
         WHERE index_id = ?1 AND project = ?2 AND filename = ?3 AND pinned_sha256 IS NULL",
        &[&index_id, &project, &filename, &sha.to_hex(), &at],
    )?;
    let pin: Option<Option<String>> = conn.query_opt(
        "SELECT pinned_sha256 FROM mirror_links
             WHERE index_id = ?1 AND project = ?2 AND filename = ?3",
        &[&index_id, &project, &filename],
        |r| r.get(0),
    )?;
    pin.flatten()
        .map(|p| {
            p.parse()
                .map_err(|_| StoreError::Corrupt(format!("pinned sha256 {p:?} of {filename}")))
        })
        .transpose()
}

/// The projects of a mirror that have a cached page (not the negative ones).
pub fn cached_projects(
    conn: &Conn<'_>,
    index_id: i64,
) -> Result<Vec<super::releases::ProjectRow>, StoreError> {
    let rows = conn.query_map(
        "SELECT project, display_name FROM mirror_pages WHERE index_id = ?1 AND found = 1
         ORDER BY project",
        &[&index_id],
        |r| {
            Ok(super::releases::ProjectRow {
                name: r.get(0)?,
                display_name: r.get(1)?,
            })
        },
    )?;
    Ok(rows)
}

/// Replace what is cached about a project with a fresh upstream answer.
/// `files` and `links` are empty for a negative entry. A link that stays
/// listed keeps its pin (by filename: a file's name names its bytes, so a
/// new URL must serve the pinned digest too); the pin of a link upstream no
/// longer lists is forgotten with it. Returns the digests of files that are
/// no longer listed (their blobs may now be unreferenced).
pub fn replace_page(
    conn: &Conn<'_>,
    index_id: i64,
    page: &PageRow,
    files: &[MirrorFileRow],
    links: &[MirrorLinkRow],
) -> Result<Vec<Sha256>, StoreError> {
    let old = files_of_project(conn, index_id, &page.project)?;
    let old_links = links_of_project(conn, index_id, &page.project)?;
    conn.execute(
        "DELETE FROM mirror_files WHERE index_id = ?1 AND project = ?2",
        &[&index_id, &page.project],
    )?;
    conn.execute(
        "DELETE FROM mirror_links WHERE index_id = ?1 AND project = ?2",
        &[&index_id, &page.project],
    )?;
    let versions =
        serde_json::to_string(&page.versions).map_err(|e| StoreError::Internal(e.to_string()))?;
    conn.execute(
        "INSERT INTO mirror_pages (index_id, project, display_name, found, etag, last_modified,
                                   serial, versions, fetched)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(index_id, project) DO UPDATE SET display_name = excluded.display_name,
           found = excluded.found, etag = excluded.etag, last_modified = excluded.last_modified,
           serial = excluded.serial, versions = excluded.versions, fetched = excluded.fetched",
        &[
            &index_id,
            &page.project,
            &page.display_name,
            &page.found,
            &page.etag,
            &page.last_modified,
            &page.serial,
            &versions,
            &page.fetched,
        ],
    )?;
    for f in files {
        conn.execute(
            "INSERT INTO mirror_files (index_id, project, filename, url, sha256, requires_python,
                                   yanked, size, upload_time, metadata_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(index_id, project, filename) DO NOTHING",
            &[
                &index_id,
                &page.project,
                &f.filename,
                &f.url,
                &f.sha256.to_hex(),
                &f.requires_python,
                &f.yanked,
                &f.size.map(|s| s.min(i64::MAX as u64) as i64),
                &f.upload_time,
                &f.metadata_sha256.map(|s| s.to_hex()),
            ],
        )?;
    }
    let pins: std::collections::HashMap<&str, (Sha256, Option<i64>)> = old_links
        .iter()
        .filter_map(|l| Some((l.filename.as_str(), (l.pinned_sha256?, l.pinned_at))))
        .collect();
    let mut kept_pins = Vec::new();
    for l in links {
        let pin = pins.get(l.filename.as_str()).copied();
        if let Some((sha, _)) = pin {
            kept_pins.push(sha);
        }
        conn.execute(
            "INSERT INTO mirror_links (index_id, project, filename, url, malformed_sha256,
                                   pinned_sha256, pinned_at, requires_python, yanked, size,
                                   upload_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(index_id, project, filename) DO NOTHING",
            &[
                &index_id,
                &page.project,
                &l.filename,
                &l.url,
                &l.malformed_sha256,
                &pin.map(|(s, _)| s.to_hex()),
                &pin.and_then(|(_, at)| at),
                &l.requires_python,
                &l.yanked,
                &l.size.map(|s| s.min(i64::MAX as u64) as i64),
                &l.upload_time,
            ],
        )?;
    }
    let kept: std::collections::HashSet<Sha256> = files
        .iter()
        .flat_map(|f| std::iter::once(f.sha256).chain(f.metadata_sha256))
        .chain(kept_pins)
        .collect();
    Ok(old
        .into_iter()
        .flat_map(|f| std::iter::once(f.sha256).chain(f.metadata_sha256))
        .chain(old_links.into_iter().filter_map(|l| l.pinned_sha256))
        .filter(|s| !kept.contains(s))
        .collect())
}

/// Upstream confirmed the cached page is current (304 Not Modified).
pub fn touch_page(
    conn: &Conn<'_>,
    index_id: i64,
    project: &str,
    fetched: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE mirror_pages SET fetched = ?3 WHERE index_id = ?1 AND project = ?2",
        &[&index_id, &project, &fetched],
    )?;
    Ok(())
}

/// Is a blob referenced by any mirrored file (as content or metadata)?
pub fn blob_referenced(conn: &Conn<'_>, sha: &Sha256) -> Result<bool, StoreError> {
    let hex = sha.to_hex();
    conn.query_one(
        "SELECT EXISTS(SELECT 1 FROM mirror_files WHERE sha256 = ?1)
                 OR EXISTS(SELECT 1 FROM mirror_files WHERE metadata_sha256 = ?1)
                 OR EXISTS(SELECT 1 FROM mirror_links WHERE pinned_sha256 = ?1)",
        &[&hex],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{IndexConfig, IndexKind};
    use crate::names::IndexPath;
    use crate::store::{indexes, users, Db};

    fn setup() -> (tempfile::TempDir, std::sync::Arc<Db>, i64) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db")).unwrap();
        let id = db
            .write_blocking(|tx| {
                users::create(tx, "root", None, None)?;
                let uid = users::get(tx, "root")?.expect("just created").id;
                let path = IndexPath::parse("root/pypi").unwrap();
                Ok(
                    indexes::create(tx, uid, &path, &IndexConfig::new(IndexKind::Mirror, "root"))?
                        .unwrap(),
                )
            })
            .unwrap();
        (dir, db, id)
    }

    fn file(name: &str, content: &[u8]) -> MirrorFileRow {
        MirrorFileRow {
            project: "demo".into(),
            filename: name.into(),
            url: format!("https://files.example/{name}"),
            sha256: Sha256::of(content),
            requires_python: Some(">=3.8".into()),
            yanked: None,
            size: Some(content.len() as u64),
            upload_time: Some(1_700_000_000),
            metadata_sha256: Some(Sha256::of(b"meta")),
        }
    }

    fn page(found: bool) -> PageRow {
        PageRow {
            project: "demo".into(),
            display_name: "Demo".into(),
            found,
            etag: Some("\"e1\"".into()),
            last_modified: None,
            serial: Some(7),
            versions: vec!["1.0".into()],
            fetched: 100,
        }
    }

    #[test]
    fn replace_touch_and_negative_entries() {
        let (_d, db, id) = setup();
        let a = file("demo-1.0.tar.gz", b"a");
        let b = file("demo-1.0-py3-none-any.whl", b"b");
        db.write_blocking(|tx| replace_page(tx, id, &page(true), &[a.clone(), b.clone()], &[]))
            .unwrap();
        let (p, files, listed) = db
            .read_blocking(|c| {
                Ok((
                    super::page(c, id, "demo")?,
                    files_of_project(c, id, "demo")?,
                    cached_projects(c, id)?,
                ))
            })
            .unwrap();
        assert_eq!(p, Some(page(true)));
        assert_eq!(files, vec![b.clone(), a.clone()]);
        assert_eq!(listed.len(), 1);
        assert!(db.read_blocking(|c| blob_referenced(c, &a.sha256)).unwrap());
        assert!(db
            .read_blocking(|c| blob_referenced(c, &Sha256::of(b"meta")))
            .unwrap());
        assert!(!db
            .read_blocking(|c| blob_referenced(c, &Sha256::of(b"zz")))
            .unwrap());

        // a refresh that drops file a reports it (and only it) as orphaned
        let orphans = db
            .write_blocking(|tx| replace_page(tx, id, &page(true), std::slice::from_ref(&b), &[]))
            .unwrap();
        assert_eq!(orphans, vec![a.sha256]);
        db.write_blocking(|tx| touch_page(tx, id, "demo", 500))
            .unwrap();
        let p = db
            .read_blocking(|c| super::page(c, id, "demo"))
            .unwrap()
            .unwrap();
        assert_eq!(p.fetched, 500);

        // upstream lost the project: a negative entry, no files, not listed
        let mut gone = page(false);
        gone.versions.clear();
        db.write_blocking(|tx| replace_page(tx, id, &gone, &[], &[]))
            .unwrap();
        let (p, files, listed) = db
            .read_blocking(|c| {
                Ok((
                    super::page(c, id, "demo")?,
                    files_of_project(c, id, "demo")?,
                    cached_projects(c, id)?,
                ))
            })
            .unwrap();
        assert!(!p.unwrap().found);
        assert!(files.is_empty());
        assert!(listed.is_empty());
        assert!(db
            .read_blocking(|c| super::page(c, id, "other"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn files_by_name() {
        let (_d, db, id) = setup();
        let a = file("demo-1.0.tar.gz", b"a");
        db.write_blocking(|tx| replace_page(tx, id, &page(true), &[a.clone(), a.clone()], &[]))
            .unwrap();
        let found = db
            .read_blocking(|c| files_named(c, id, "demo-1.0.tar.gz"))
            .unwrap();
        assert_eq!(found, vec![a]);
        assert!(db
            .read_blocking(|c| files_named(c, id, "nope.whl"))
            .unwrap()
            .is_empty());
    }

    fn link(name: &str) -> MirrorLinkRow {
        MirrorLinkRow {
            project: "demo".into(),
            filename: name.into(),
            url: format!("http://files.example/{name}"),
            malformed_sha256: None,
            pinned_sha256: None,
            pinned_at: None,
            requires_python: None,
            yanked: None,
            size: None,
            upload_time: None,
        }
    }

    #[test]
    fn links_keep_their_pin_while_listed() {
        let (_d, db, id) = setup();
        let l = link("demo-1.0.zip");
        let (x, y) = (Sha256::of(b"x"), Sha256::of(b"y"));
        db.write_blocking(|tx| replace_page(tx, id, &page(true), &[], std::slice::from_ref(&l)))
            .unwrap();
        // the first pin wins; a second download with other bytes sees it
        let pin = |sha: Sha256| {
            db.write_blocking(move |tx| pin_link(tx, id, "demo", "demo-1.0.zip", &sha, 5))
                .unwrap()
        };
        assert_eq!(pin(x), Some(x));
        assert_eq!(pin(y), Some(x));
        assert!(db.read_blocking(|c| blob_referenced(c, &x)).unwrap());
        // a refresh that still lists it (even at another URL) keeps the pin
        let mut moved = l.clone();
        moved.url = "http://elsewhere.example/demo-1.0.zip".into();
        db.write_blocking(|tx| {
            replace_page(tx, id, &page(true), &[], std::slice::from_ref(&moved))
        })
        .unwrap();
        let got = db
            .read_blocking(|c| links_named(c, id, "demo-1.0.zip"))
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].pinned_sha256, Some(x));
        assert_eq!(got[0].pinned_at, Some(5));
        assert_eq!(got[0].url, moved.url);
        // no longer listed: the pin goes with it and its blob is orphaned
        let orphans = db
            .write_blocking(|tx| replace_page(tx, id, &page(true), &[], &[]))
            .unwrap();
        assert_eq!(orphans, vec![x]);
        assert!(!db.read_blocking(|c| blob_referenced(c, &x)).unwrap());
        assert_eq!(pin(y), None);
    }
}

/// What a mirror index has cached, for the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSummary {
    /// Project pages fetched from upstream (found or not).
    pub pages: i64,
    /// Of those, projects upstream has.
    pub found: i64,
    /// Pages fetched before `stale_before` (due for revalidation).
    pub stale: i64,
    pub newest_fetch: Option<i64>,
    pub oldest_fetch: Option<i64>,
    /// Files the cached pages list (with a declared sha256).
    pub files_listed: i64,
}

pub fn cache_summary(
    conn: &Conn<'_>,
    index_id: i64,
    stale_before: i64,
) -> Result<CacheSummary, StoreError> {
    let (pages, found, stale, newest_fetch, oldest_fetch) = conn.query_one(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN found != 0 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN fetched < ?2 THEN 1 ELSE 0 END), 0),
                    MAX(fetched), MIN(fetched)
             FROM mirror_pages WHERE index_id = ?1",
        &[&index_id, &stale_before],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    let files_listed = conn.query_one(
        "SELECT COUNT(*) FROM mirror_files WHERE index_id = ?1",
        &[&index_id],
        |r| r.get(0),
    )?;
    Ok(CacheSummary {
        pages,
        found,
        stale,
        newest_fetch,
        oldest_fetch,
        files_listed,
    })
}
