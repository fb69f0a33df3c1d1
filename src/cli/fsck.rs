//! `airlock fsck [--repair]`: the command line of
//! [`crate::maintenance::fsck`]. Exits 0 when the data folder is sound,
//! 1 when it found a problem.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::maintenance::fsck::{fsck, FsckOptions};
use crate::maintenance::Pace;

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// The data folder to check (the server may be running on it).
    #[arg(long, default_value = "./airlock-data", env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// Remove unreferenced blobs and stale temp files (only those older
    /// than --min-age). Nothing a row refers to is ever removed.
    #[arg(long)]
    pub repair: bool,
    /// Seconds a blob or temp file must be old before --repair removes it
    /// (keeps clear of uploads in progress on a running server).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub min_age: u64,
    /// Skip comparing stored core metadata with each archive's.
    #[arg(long)]
    pub no_metadata: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// How much CPU fsck may take, in percent of one core (50 = half a
    /// core, for a check beside a busy server). 0, the default: every
    /// core, as fast as it goes.
    #[arg(long, default_value_t = 0, value_name = "PERCENT")]
    pub max_cpu: u32,
}

pub async fn run(a: FsckArgs) -> anyhow::Result<ExitCode> {
    let opts = FsckOptions {
        repair: a.repair,
        check_metadata: !a.no_metadata,
        min_age: Duration::from_secs(a.min_age),
        progress: !a.json,
        check_tmp: true,
        pace: Pace::limited(a.max_cpu),
    };
    let data = a.data.clone();
    let report = tokio::task::spawn_blocking(move || fsck(&data, &opts)).await??;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["problems"] = report.problems().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.summary());
        if report.is_clean() {
            println!("fsck: {} is sound", a.data.display());
        } else {
            println!(
                "fsck: {} problem(s) in {}",
                report.problems(),
                a.data.display()
            );
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
