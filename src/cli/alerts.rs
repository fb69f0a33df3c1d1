//! `airlock alerts`: security alerts recorded by the server (root only).

use std::process::ExitCode;

use clap::Args;

use crate::client::{ApiClient, ConnectArgs};

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Only alerts with a higher id.
    #[arg(long, default_value_t = 0)]
    pub since: i64,
    /// Print the server's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Exit code 0 when there are no alerts, 1 when there are (for cron jobs).
pub async fn run(args: AlertsArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.connect)?;
    let r = client
        .get(&format!("/+alerts?since={}", args.since))
        .await?;
    let alerts = r["result"].as_array().cloned().unwrap_or_default();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&alerts)?);
    } else {
        for a in &alerts {
            println!(
                "#{} {} [{}] {} {}: {}",
                a["id"],
                crate::simple::rfc3339(a["created"].as_i64().unwrap_or(0)),
                a["severity"].as_str().unwrap_or("?"),
                a["kind"].as_str().unwrap_or("?"),
                a["project"].as_str().unwrap_or("?"),
                a["message"].as_str().unwrap_or(""),
            );
        }
        if alerts.is_empty() {
            println!("no alerts");
        }
    }
    Ok(if alerts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
