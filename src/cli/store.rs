//! `airlock store migrate`: the command line of
//! [`crate::maintenance::migrate`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::maintenance::migrate;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a single-node data folder into PostgreSQL and object storage
    /// (docs/scale-out.md): every blob re-hashed into the bucket, every
    /// table loaded in one transaction, row counts, blobs and the audit
    /// chain verified on the new store. Stop the server on the folder
    /// first; the target database must be new.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data folder to copy (SQLite + local blobs); only read.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The new database: `postgres://USER@HOST:PORT/DATABASE` (password in
    /// AIRLOCK_DATABASE_PASSWORD or AIRLOCK_DATABASE_PASSWORD_FILE).
    #[arg(long, value_name = "URL")]
    pub to_database: crate::store::DatabaseLocation,
    /// Where the files go: `s3://BUCKET/PREFIX?endpoint=URL&region=R`
    /// (credentials in AWS_*).
    #[arg(long, value_name = "LOCATION")]
    pub to_blobs: crate::store::BlobLocation,
    /// A new or empty folder for the export and temp files (default: beside
    /// --from); removed afterwards.
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
}

pub async fn run(cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StoreCommand::Migrate(a) => {
            if matches!(a.to_blobs, crate::store::BlobLocation::Local) {
                anyhow::bail!(
                    "--to-blobs local is not supported: several nodes need one shared bucket \
                     (give s3://BUCKET/PREFIX?endpoint=…)"
                );
            }
            let target = migrate::postgres_target(&a.to_database)?.clone();
            let work = a
                .work
                .clone()
                .unwrap_or_else(|| migrate::default_work(&a.from));
            let (from, blobs) = (a.from.clone(), a.to_blobs.clone());
            let r = tokio::task::spawn_blocking(move || {
                migrate::migrate(&from, &target, &blobs, &work)
            })
            .await??;
            println!(
                "migrated {} into {} and {}: {} records in {} tables, {} blobs ({} bytes), \
                 every blob read back and re-hashed, row counts checked, audit chain intact \
                 ({} entries, the migration recorded as entry {} {})",
                a.from.display(),
                a.to_database,
                a.to_blobs,
                r.records,
                r.tables,
                r.blobs,
                r.bytes,
                r.audit_entries,
                r.import_entry.seq,
                r.import_entry.hash
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
