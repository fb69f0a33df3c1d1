//! `airlock import --from-devpi DIR --data DATA`: the command line of
//! [`crate::maintenance::devpi_import`]. Prints what was carried over and
//! what not; exits 0 unless the import as a whole failed (then nothing was
//! written).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::maintenance::devpi_import::{import, ImportOptions};

/// Import the devpi export in `from` into the new data folder `data`,
/// with the policies of `policies` (as `serve --policies`).
pub async fn run(
    from: PathBuf,
    data: PathBuf,
    policies: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let policy_dir = policies.or_else(|| {
        let local = PathBuf::from("policies");
        local.is_dir().then_some(local)
    });
    let policies =
        crate::registry::load_policies(policy_dir.as_deref()).context("loading the policies")?;
    let report = import(ImportOptions {
        export_dir: from,
        data_dir: data.clone(),
        policies,
    })
    .await
    .context("importing the devpi export (nothing was written)")?;
    print!("{report}");
    println!("data folder: {}", data.display());
    Ok(ExitCode::SUCCESS)
}
