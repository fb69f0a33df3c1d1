//! `airlock push NAME==VERSION --from USER/INDEX --to USER/INDEX [--dry-run]`:
//! a verbatim push, reviewed; prints the review and what landed.

use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The release, as NAME==VERSION.
    pub spec: String,
    /// Source index (a stage index or a mirror such as root/pypi).
    #[arg(long = "from", value_name = "USER/INDEX")]
    pub source: String,
    /// Target stage index.
    #[arg(long = "to", value_name = "USER/INDEX")]
    pub target: String,
    /// Show the review without landing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the server's JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run(args: PushArgs) -> anyhow::Result<ExitCode> {
    let (name, version) = args
        .spec
        .split_once("==")
        .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!("give the release as NAME==VERSION, e.g. requests==2.32.3")
        })?;
    let client = ApiClient::new(&args.connect)?;
    let path = format!("/{}", args.source.trim_matches('/'));
    let resp = client
        .request(
            reqwest::Method::POST,
            &path,
            RequestBody::Json(json!({
                ":action": "push",
                "name": name.trim(),
                "version": version.trim(),
                "targetindex": args.target.trim_matches('/'),
                "dry_run": args.dry_run,
            })),
        )
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&resp)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&resp["push"]));
    println!("{}", resp["message"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

/// The push outcome as text.
pub fn render(push: &Value) -> String {
    let mut out = format!(
        "push {}=={}  {} -> {}\n",
        push["project"].as_str().unwrap_or("?"),
        push["version"].as_str().unwrap_or("?"),
        push["source"].as_str().unwrap_or("?"),
        push["target"].as_str().unwrap_or("?"),
    );
    out.push_str("files:\n");
    for f in push["files"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<9} {}  sha256:{}\n",
            f["action"].as_str().unwrap_or("?"),
            f["filename"].as_str().unwrap_or("?"),
            f["sha256"].as_str().unwrap_or("?"),
        ));
        for hop in f["provenance"].as_array().into_iter().flatten() {
            let op = hop["op"].as_str().unwrap_or("?");
            let line = match op {
                "mirror" => format!(
                    "from {} ({})",
                    hop["url"].as_str().unwrap_or("?"),
                    hop["index"].as_str().unwrap_or("mirror")
                ),
                "upload" => format!(
                    "uploaded to {} by {}",
                    hop["index"].as_str().unwrap_or("?"),
                    hop["by"].as_str().unwrap_or("?")
                ),
                "push" => format!(
                    "pushed {} -> {} by {}",
                    hop["from"].as_str().unwrap_or("?"),
                    hop["to"].as_str().unwrap_or("?"),
                    hop["by"].as_str().unwrap_or("?")
                ),
                other => other.to_string(),
            };
            out.push_str(&format!("            {line}\n"));
        }
    }
    if let Some(text) = push["review_text"].as_str() {
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    let decision = &push["decision"];
    match decision["decision"].as_str() {
        Some("land") => out.push_str("decision: land\n"),
        Some("pending") => out.push_str(&format!(
            "decision: pending ({} more approval(s) needed)\n",
            decision["needed"]
        )),
        Some("refuse") => {
            out.push_str("decision: refuse\n");
            for r in decision["reasons"].as_array().into_iter().flatten() {
                out.push_str(&format!("  - {}\n", r.as_str().unwrap_or("?")));
            }
        }
        _ => {}
    }
    out
}
