//! `airlock backup DIR` and `airlock restore BACKUP --data DATA`: the
//! command line of [`crate::maintenance::backup`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::maintenance::{backup, Pace};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup: a new or empty folder.
    pub dir: PathBuf,
    /// The data folder to back up (the server may be running on it).
    #[arg(long, default_value = "./airlock-data", env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// Copy blobs even when they could be hard-linked (same filesystem):
    /// a link shares the disk blocks with the live store.
    #[arg(long)]
    pub copy: bool,
    /// How much CPU the backup may take, in percent of one core (150 = one
    /// and a half cores; 0 = every core, unpaced). The default keeps a
    /// server on the same machine serving at close to its full rate; the
    /// backup takes longer instead.
    #[arg(long, default_value_t = 25, value_name = "PERCENT")]
    pub max_cpu: u32,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A folder written by `airlock backup`.
    pub backup: PathBuf,
    /// The data folder to restore into: must be new or empty.
    #[arg(long)]
    pub data: PathBuf,
}

pub async fn run_backup(a: BackupArgs) -> anyhow::Result<ExitCode> {
    let (data, dir) = (a.data.clone(), a.dir.clone());
    let r = tokio::task::spawn_blocking(move || {
        backup::backup(&data, &dir, a.copy, Pace::limited(a.max_cpu))
    })
    .await??;
    let how = match (r.blobs_linked, r.blobs_copied) {
        (_, 0) => "hard-linked",
        (0, _) => "copied",
        _ => "partly hard-linked, partly copied",
    };
    println!(
        "backup of {} written to {} and verified: {} blobs {how} ({} bytes), \
         {} audit entries, secret {}",
        a.data.display(),
        a.dir.display(),
        r.verified.blobs,
        r.verified.bytes,
        r.verified.audit_entries,
        if r.secret { "copied" } else { "absent" },
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run_restore(a: RestoreArgs) -> anyhow::Result<ExitCode> {
    let (from, data) = (a.backup.clone(), a.data.clone());
    let r = tokio::task::spawn_blocking(move || backup::restore(&from, &data)).await??;
    println!(
        "restored {} into {} and verified: {} blobs ({} bytes), {} audit entries, secret {}",
        a.backup.display(),
        a.data.display(),
        r.blobs,
        r.verified.bytes,
        r.verified.audit_entries,
        if r.secret { "copied" } else { "absent" },
    );
    Ok(ExitCode::SUCCESS)
}
