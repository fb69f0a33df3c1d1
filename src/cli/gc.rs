//! `airlock gc`: mirror cache retention on demand, on a data folder
//! directly (the server may be running on it); see
//! [`crate::maintenance::gc`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::maintenance::gc::{sweep, GcOptions, NoUse};
use crate::mirror::retention::{self, RetentionPolicy};

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The data folder (the server may be running on it).
    #[arg(long, default_value = "./airlock-data", env = "AIRLOCK_DATA")]
    pub data: PathBuf,
    /// Keep at most this many GB (GiB; decimals allowed) of cached mirror
    /// files, evicting the least recently used.
    #[arg(long, value_name = "GB", value_parser = retention::parse_gb)]
    pub max_gb: Option<u64>,
    /// Evict cached mirror files unused for longer than this (30d, 12h, 90m).
    #[arg(long, value_name = "DURATION", value_parser = retention::parse_duration)]
    pub max_age: Option<Duration>,
    /// Never evict a file used more recently than this.
    #[arg(long, value_name = "DURATION", default_value = "10m",
          value_parser = retention::parse_duration)]
    pub min_idle: Duration,
    /// Print what would be evicted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: GcArgs) -> anyhow::Result<ExitCode> {
    let policy = RetentionPolicy {
        max_bytes: a.max_gb,
        max_age: a.max_age,
        min_idle: a.min_idle,
    };
    if !policy.is_active() {
        anyhow::bail!("nothing to do: give --max-gb and/or --max-age");
    }
    let opts = GcOptions {
        policy,
        dry_run: a.dry_run,
    };
    let data = a.data.clone();
    let report = tokio::task::spawn_blocking(move || sweep(&data, &opts, &NoUse)).await??;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    Ok(ExitCode::SUCCESS)
}
