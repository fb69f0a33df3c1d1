//! `airlock webhooks add|list|remove|log INDEX`: an index's webhook
//! subscriptions (owner or root) and their delivery log.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe an index to events; prints the signing secret (shown once).
    Add {
        /// The index, e.g. alice/dev.
        index: String,
        /// Where to POST the events (http or https). With --jenkins, a
        /// template whose {pkgname} and {pkgversion} are filled in.
        #[arg(value_name = "URL")]
        target: String,
        /// Event types, comma-separated or repeated (upload, upload.refused,
        /// push.landed, push.pending, push.refused, push.approved,
        /// push.rejected, release.deleted, dependency_confusion.alert,
        /// typosquat.blocked, index.created, index.changed, index.deleted).
        #[arg(long = "event", short = 'e', value_delimiter = ',')]
        events: Vec<String>,
        /// A Jenkins upload trigger (like devpi's uploadtrigger_jenkins):
        /// triggers on upload unless --event says otherwise.
        #[arg(long)]
        jenkins: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List an index's webhooks.
    List {
        index: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Remove a webhook (its undelivered events are dropped).
    Remove {
        index: String,
        /// The webhook id (`#N` of `airlock webhooks list`).
        id: i64,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// The latest events and delivery attempts of an index's webhooks.
    Log {
        index: String,
        /// Most entries of each kind.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

fn base(index: &str) -> String {
    format!("/{}/+webhooks", index.trim_matches('/'))
}

pub async fn run(cmd: WebhooksCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WebhooksCommand::Add {
            index,
            target,
            events,
            jenkins,
            connect,
        } => {
            let client = ApiClient::new(&connect)?;
            let kind = if jenkins { "jenkins" } else { "standard" };
            let r = client
                .request(
                    reqwest::Method::PUT,
                    &base(&index),
                    RequestBody::Json(json!({"url": target, "events": events, "kind": kind})),
                )
                .await?;
            let w = &r["result"];
            println!(
                "webhook #{} of {}: {} {} on {}",
                w["id"],
                w["index"].as_str().unwrap_or("?"),
                w["kind"].as_str().unwrap_or("?"),
                w["url"].as_str().unwrap_or("?"),
                join(&w["events"])
            );
            println!(
                "secret (shown only now): {}",
                r["secret"].as_str().unwrap_or("")
            );
        }
        WebhooksCommand::List {
            index,
            json,
            connect,
        } => {
            let client = ApiClient::new(&connect)?;
            let r = client.get(&base(&index)).await?;
            let list = r["result"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no webhooks on {}", index.trim_matches('/'));
            } else {
                for w in &list {
                    println!(
                        "#{} {} {} on {} (added {} by {})",
                        w["id"],
                        w["kind"].as_str().unwrap_or("?"),
                        w["url"].as_str().unwrap_or("?"),
                        join(&w["events"]),
                        crate::simple::rfc3339(w["created"].as_i64().unwrap_or(0)),
                        w["created_by"].as_str().unwrap_or("?"),
                    );
                }
            }
        }
        WebhooksCommand::Remove { index, id, connect } => {
            let client = ApiClient::new(&connect)?;
            let r = client
                .request(
                    reqwest::Method::DELETE,
                    &format!("{}/{id}", base(&index)),
                    RequestBody::None,
                )
                .await?;
            println!("{}", r["message"].as_str().unwrap_or(""));
        }
        WebhooksCommand::Log {
            index,
            limit,
            json,
            connect,
        } => {
            let client = ApiClient::new(&connect)?;
            let r = client
                .get(&format!("{}/log?limit={limit}", base(&index)))
                .await?;
            let log = &r["result"];
            if json {
                println!("{}", serde_json::to_string_pretty(log)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("events:");
            for e in log["events"].as_array().into_iter().flatten() {
                println!(
                    "  {} {} webhook #{} {} after {} attempt(s){}",
                    e["event_id"].as_str().unwrap_or("?"),
                    e["type"].as_str().unwrap_or("?"),
                    e["webhook_id"],
                    e["state"].as_str().unwrap_or("?"),
                    e["attempts"],
                    e["last_error"]
                        .as_str()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default(),
                );
            }
            println!("attempts:");
            for a in log["attempts"].as_array().into_iter().flatten() {
                let status = match a["status"].as_i64() {
                    Some(s) => s.to_string(),
                    None => "-".into(),
                };
                println!(
                    "  {} {} #{} try {}: {} in {} ms{}",
                    crate::simple::rfc3339(a["time"].as_i64().unwrap_or(0)),
                    a["event_id"].as_str().unwrap_or("?"),
                    a["webhook_id"],
                    a["attempt"],
                    status,
                    a["duration_ms"],
                    a["error"]
                        .as_str()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
