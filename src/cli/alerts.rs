//! `airlock alerts`: open security alerts recorded by the server (root
//! only); `airlock alerts ack ID --note …` acknowledges one.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<AlertsAction>,
    /// Only alerts with a higher id.
    #[arg(long, default_value_t = 0)]
    pub since: i64,
    /// Also list acknowledged alerts.
    #[arg(long)]
    pub all: bool,
    /// Print the server's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Acknowledge an alert (recorded in the audit log with your note): it
    /// is no longer open, so `airlock alerts` exits 0 again.
    Ack {
        /// Alert id (the `#N` of `airlock alerts`).
        id: i64,
        /// Why it is acknowledged (required).
        #[arg(long)]
        note: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// Exit code 0 when no alert is open, 1 when some are (for cron jobs).
pub async fn run(args: AlertsArgs) -> anyhow::Result<ExitCode> {
    if let Some(AlertsAction::Ack { id, note, connect }) = args.action {
        let client = ApiClient::new(&connect)?;
        let r = client
            .request(
                reqwest::Method::POST,
                &format!("/+alerts/{id}/ack"),
                RequestBody::Json(json!({ "note": note })),
            )
            .await?;
        println!("{}", r["message"].as_str().unwrap_or(""));
        return Ok(ExitCode::SUCCESS);
    }
    let client = ApiClient::new(&args.connect)?;
    let r = client
        .get(&format!(
            "/+alerts?since={}{}",
            args.since,
            if args.all { "&all=1" } else { "" }
        ))
        .await?;
    let alerts = r["result"].as_array().cloned().unwrap_or_default();
    let open = alerts.iter().filter(|a| a["acked"].is_null()).count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&alerts)?);
    } else {
        for a in &alerts {
            let ack = match a["acked"].as_object() {
                Some(k) => format!(
                    "  [acknowledged by {}: {}]",
                    k["by"].as_str().unwrap_or("?"),
                    k["note"].as_str().unwrap_or("")
                ),
                None => String::new(),
            };
            println!(
                "#{} {} [{}] {} {}: {}{ack}",
                a["id"],
                crate::simple::rfc3339(a["created"].as_i64().unwrap_or(0)),
                a["severity"].as_str().unwrap_or("?"),
                a["kind"].as_str().unwrap_or("?"),
                a["project"].as_str().unwrap_or("?"),
                a["message"].as_str().unwrap_or(""),
            );
        }
        if open == 0 {
            println!("no open alerts");
        } else {
            println!("{open} open alert(s): acknowledge with `airlock alerts ack ID --note WHY`");
        }
    }
    Ok(if open == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
