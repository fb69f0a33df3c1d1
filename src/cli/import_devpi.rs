//! `airlock import --from-devpi DIR --data DATA`: the command line of
//! [`crate::maintenance::devpi_import`]. Prints what was carried over and
//! what not; exits 0 unless the import as a whole failed (then nothing was
//! written).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::maintenance::devpi_import::{import, ImportOptions};

#[derive(Debug, Args)]
pub struct ImportDevpiArgs {
    /// The folder `devpi-export` wrote (devpi-server 6.x; holds dataindex.json).
    #[arg(long = "from-devpi", value_name = "DIR")]
    pub from_devpi: PathBuf,
    /// The new data folder (must be absent or empty).
    #[arg(long, value_name = "DATA")]
    pub data: PathBuf,
    /// The policy folder the server will run with (as `serve --policies`):
    /// a production index loses the bases that reach a mirror. Default:
    /// ./policies if it exists, else the built-in default.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
}

pub async fn run(a: ImportDevpiArgs) -> anyhow::Result<ExitCode> {
    let policy_dir = a.policies.clone().or_else(|| {
        let local = PathBuf::from("policies");
        local.is_dir().then_some(local)
    });
    let policies =
        crate::registry::load_policies(policy_dir.as_deref()).context("loading the policies")?;
    let report = import(ImportOptions {
        export_dir: a.from_devpi,
        data_dir: a.data.clone(),
        policies,
    })
    .await
    .context("importing the devpi export (nothing was written)")?;
    print!("{report}");
    println!("data folder: {}", a.data.display());
    Ok(ExitCode::SUCCESS)
}
