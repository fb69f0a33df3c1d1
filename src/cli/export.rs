//! `airlock export DIR` and `airlock import DIR --data DATA`: the command
//! line of [`crate::maintenance::export`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::maintenance::export::{self, ExportOptions};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the export: a new or empty folder.
    pub dir: PathBuf,
    /// The data folder to export (the server may be running on it).
    #[arg(long, default_value = "./airlock-data", env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// Also export the mirror caches (pages, file lists) and the mirror
    /// files cached now.
    #[arg(long)]
    pub with_mirror_files: bool,
    /// Copy blobs even when they could be hard-linked (same filesystem).
    #[arg(long)]
    pub copy: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A folder written by `airlock export`.
    #[arg(required_unless_present = "from_devpi", conflicts_with = "from_devpi")]
    pub dir: Option<PathBuf>,
    /// Instead: the folder devpi-server's `devpi-export` wrote (devpi-server
    /// 6.x; holds dataindex.json).
    #[arg(long = "from-devpi", value_name = "DIR")]
    pub from_devpi: Option<PathBuf>,
    /// The data folder to create: must be new or empty.
    #[arg(long)]
    pub data: PathBuf,
    /// With `--from-devpi`: the policy folder the server will run with (as
    /// `serve --policies`): a production index loses the bases that reach a
    /// mirror. Default: ./policies if it exists, else the built-in default.
    #[arg(long, value_name = "DIR", requires = "from_devpi")]
    pub policies: Option<PathBuf>,
}

pub async fn run_export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let (data, dir) = (a.data.clone(), a.dir.clone());
    let opts = ExportOptions {
        with_mirror_files: a.with_mirror_files,
        copy: a.copy,
    };
    let r = tokio::task::spawn_blocking(move || export::export(&data, &dir, opts)).await??;
    let records: u64 = r.manifest.tables.iter().map(|t| t.records).sum();
    println!(
        "exported {} to {}: {records} records in {} tables, {} blobs ({} bytes, {} \
         hard-linked, {} copied), every blob re-hashed; audit head {} {}",
        a.data.display(),
        a.dir.display(),
        r.manifest.tables.len(),
        r.manifest.blobs.count,
        r.manifest.blobs.bytes,
        r.blobs_linked,
        r.blobs_copied,
        r.manifest.audit_head.seq,
        r.manifest.audit_head.hash,
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run_import(a: ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(devpi) = a.from_devpi {
        return super::import_devpi::run(devpi, a.data, a.policies).await;
    }
    let Some(dir) = a.dir.clone() else {
        anyhow::bail!("give the export folder to import");
    };
    let data = a.data.clone();
    let from = dir.clone();
    let r = tokio::task::spawn_blocking(move || export::import(&from, &data)).await??;
    println!(
        "imported {} into {}: {} records, {} blobs ({} bytes) re-hashed, audit chain of {} \
         entries verified; the import is entry {} {}",
        dir.display(),
        a.data.display(),
        r.records,
        r.blobs,
        r.bytes,
        r.manifest.audit_head.seq,
        r.import_entry.seq,
        r.import_entry.hash,
    );
    Ok(ExitCode::SUCCESS)
}
