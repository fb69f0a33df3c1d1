//! `airlock approve ID`, `airlock reject ID --reason …`, `airlock pushes`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Pending push id.
    pub id: i64,
    /// A note for the record (kept in the audit log).
    #[arg(long)]
    pub comment: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Pending push id.
    pub id: i64,
    /// Why (recorded).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct PushesArgs {
    /// pending (default), landed, rejected, failed, or all.
    #[arg(long, default_value = "pending")]
    pub status: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.connect)?;
    let r = client
        .request(
            reqwest::Method::POST,
            &format!("/+pushes/{}/approve", args.id),
            match &args.comment {
                Some(c) => RequestBody::Json(json!({ "comment": c })),
                None => RequestBody::None,
            },
        )
        .await?;
    if r["push"]["landed"] == true {
        print!("{}", super::push::render(&r["push"]));
    }
    println!("{}", r["message"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

pub async fn reject(args: RejectArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.connect)?;
    let r = client
        .request(
            reqwest::Method::POST,
            &format!("/+pushes/{}/reject", args.id),
            RequestBody::Json(json!({"reason": args.reason})),
        )
        .await?;
    println!("{}", r["message"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

pub async fn list(args: PushesArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.connect)?;
    let q = format!("?status={}", args.status);
    let r = client.get(&format!("/+pushes{q}")).await?;
    let rows = r["result"].as_array().cloned().unwrap_or_default();
    for p in &rows {
        println!(
            "#{} {:<8} {}=={}  {} -> {}  by {}  approvals {}",
            p["id"],
            p["status"].as_str().unwrap_or("?"),
            p["project"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?"),
            p["source"].as_str().unwrap_or("?"),
            p["target"].as_str().unwrap_or("?"),
            p["pusher"].as_str().unwrap_or("?"),
            p["approvals"],
        );
    }
    if rows.is_empty() {
        if args.status == "all" {
            println!("no pushes");
        } else {
            println!("no {} pushes", args.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}
