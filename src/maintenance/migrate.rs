//! `airlock store migrate`: copy a single-node data folder (SQLite + local
//! blobs) into the storage of a cluster (PostgreSQL + an S3-compatible
//! bucket, docs/scale-out.md), verified.
//!
//! It is an export of the folder (`export`, every blob re-hashed, the
//! mirror caches included) imported into the new store
//! (`export::read::import_into_store`: blobs re-hashed into the bucket
//! before any row, every table in one transaction, the audit chain
//! re-verified and the migration appended to it as a `data_import` entry,
//! identity sequences moved past the imported ids). Then, against the new
//! store itself: every table's row count against the export's manifest,
//! every blob read back and hashed, the chain verified again.
//!
//! The source is only read (the server may still run on it, but writes
//! made after the export starts are not carried over: stop it first). The
//! target database must be new (no user, index or audit entry).

use std::path::{Path, PathBuf};

use super::export::{self, format, ExportError, ExportOptions};
use crate::digest::Sha256;
use crate::store::{BlobLocation, BlobStore, DatabaseLocation, Db, PgLocation};

/// What a migration did and checked.
#[derive(Debug)]
pub struct MigrateReport {
    pub records: u64,
    pub tables: usize,
    pub blobs: u64,
    pub bytes: u64,
    pub audit_entries: u64,
    pub import_entry: crate::audit::Head,
}

/// Migrate the data folder `from` into the database `to_database` and the
/// blob storage `to_blobs`, using `work` (new or empty; removed afterwards)
/// for the export and the node's temp files.
pub fn migrate(
    from: &Path,
    to_database: &PgLocation,
    to_blobs: &BlobLocation,
    work: &Path,
) -> Result<MigrateReport, ExportError> {
    if !super::is_absent_or_empty(work)? {
        return Err(ExportError::NotEmpty(work.to_path_buf(), "store migrate"));
    }
    let result = run(from, to_database, to_blobs, work);
    let _ = std::fs::remove_dir_all(work);
    result
}

fn run(
    from: &Path,
    to_database: &PgLocation,
    to_blobs: &BlobLocation,
    work: &Path,
) -> Result<MigrateReport, ExportError> {
    let dump = work.join("export");
    export::export(
        from,
        &dump,
        ExportOptions {
            with_mirror_files: true,
            copy: false,
        },
    )?;
    let node = work.join("node");
    let blobs = BlobStore::open_at(&node, to_blobs)?;
    let db = Db::open_postgres(to_database)?;
    let imported = export::read::import_into_store(&dump, &db, &blobs)?;
    // Planner statistics for the tables just bulk-loaded: until autovacuum
    // gets to them, the first node's start-up queries would be planned on
    // guesses (seconds at 100k projects instead of milliseconds).
    db.write_blocking(|c| c.batch("ANALYZE"))?;
    build_typo_index(&db)?;

    // Checked again on the new store itself.
    for t in &imported.manifest.tables {
        let Some(table) = format::tables(true).find(|f| f.name == t.name) else {
            continue;
        };
        if table.source != format::Source::Table {
            continue;
        }
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.name);
        let n: i64 = db.read_blocking(move |c| c.query_one(&sql, &[], |r| r.get(0)))?;
        // the chain holds one entry more: the migration's own
        let want = t.records + u64::from(table.name == "audit_log");
        if n as u64 != want {
            return Err(ExportError::TableMismatch {
                table: t.name.clone(),
                reason: format!(
                    "the new database holds {n} rows, {want} were expected from the \
                     export (a trigger or constraint changed them)"
                ),
            });
        }
    }
    let files = dump.join(format::FILES_DIR);
    for sha in export::read::scan_files(&files)? {
        let digest: Sha256 = sha
            .parse()
            .map_err(|_| ExportError::Manifest(format!("blob name {sha} is not a sha256")))?;
        let copy = blobs.local_copy(&digest)?;
        let (actual, _) = super::refs::hash_file(copy.path())?;
        if actual != sha {
            return Err(ExportError::BlobMismatch {
                path: copy.path().to_path_buf(),
                actual,
            });
        }
    }
    let chain = db.read_blocking(|c| Ok(crate::audit::verify(c)))??;
    if !chain.is_intact() {
        let problems: Vec<String> = chain.problems.iter().map(|p| p.to_string()).collect();
        return Err(ExportError::AuditChain(problems.join("; ")));
    }
    db.close()?;
    Ok(MigrateReport {
        records: imported.records,
        tables: imported.manifest.tables.len(),
        blobs: imported.blobs,
        bytes: imported.bytes,
        audit_entries: chain.entries,
        import_entry: imported.import_entry,
    })
}

/// Names stored into the typosquat index per transaction.
const TYPO_BATCH: usize = 5000;

/// Build the typosquat index of private names, derived data an export
/// leaves out: otherwise the first node to start works through every
/// project name while its start-up writes (the default indexes) wait for
/// the same write lock (3.7 s at 20k projects, measured).
fn build_typo_index(db: &Db) -> Result<(), ExportError> {
    use crate::store::typo_index;
    db.write_blocking(|c| typo_index::reset(c, crate::typo::probe::KEYS_VERSION))?;
    loop {
        let (_, _, taken) = db.write_blocking(|c| typo_index::work_queue(c, TYPO_BATCH))?;
        if taken < TYPO_BATCH {
            return Ok(());
        }
    }
}

/// The work folder used when none is given: beside the source, named for
/// this process.
pub fn default_work(from: &Path) -> PathBuf {
    let parent = from
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(format!(".airlock-migrate-{}", std::process::id()))
}

/// `--to-database` must name PostgreSQL: migrating into another embedded
/// folder is `airlock export` + `airlock import`.
pub fn postgres_target(to: &DatabaseLocation) -> Result<&PgLocation, ExportError> {
    match to {
        DatabaseLocation::Postgres(l) => Ok(l),
        DatabaseLocation::Local => Err(ExportError::TargetInUse(
            "--to-database must be a postgres:// URL (to copy into another embedded data \
             folder: airlock export, then airlock import)"
                .into(),
        )),
    }
}
