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
    /// Also push the dependencies the release needs in the target's
    /// environments (resolved from the source index; all land or none).
    #[arg(long)]
    pub with_deps: bool,
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
                "with_deps": args.with_deps,
            })),
        )
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&resp)?);
        return Ok(ExitCode::SUCCESS);
    }
    if resp["push_set"].is_object() {
        print!("{}", render_set(&resp["push_set"]));
    } else {
        print!("{}", render(&resp["push"]));
    }
    println!("{}", resp["message"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

/// A push with dependencies as text: every release with its review, then
/// what was already there, what is unmet, and the decision for the set.
pub fn render_set(set: &Value) -> String {
    let releases = set["releases"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "push with dependencies  {} -> {}: {} release(s)\n",
        set["source"].as_str().unwrap_or("?"),
        set["target"].as_str().unwrap_or("?"),
        releases.len()
    );
    for r in &releases {
        out.push_str(&format!(
            "  {}=={}\n",
            r["project"].as_str().unwrap_or("?"),
            r["version"].as_str().unwrap_or("?")
        ));
    }
    for (i, r) in releases.iter().enumerate() {
        out.push_str(&format!("\n[{}/{}] ", i + 1, releases.len()));
        out.push_str(&render(r));
    }
    let list = |key: &str| -> Vec<String> {
        set[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let present = list("already_present");
    if !present.is_empty() {
        out.push_str("\nalready satisfied by the target:\n");
        for p in present {
            out.push_str(&format!("  {p}\n"));
        }
    }
    let unmet = list("unmet");
    if !unmet.is_empty() {
        out.push_str("\nNOT included (unmet):\n");
        for u in unmet {
            out.push_str(&format!("  ! {u}\n"));
        }
    }
    out.push_str("\nfor the whole set: ");
    out.push_str(&render_decision(&set["decision"]));
    out
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
        let hops = f["provenance"].as_array().cloned().unwrap_or_default();
        let dry_run = push["dry_run"] == true;
        for (i, hop) in hops.iter().enumerate() {
            let would = dry_run && i + 1 == hops.len();
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
                "push" if would => format!(
                    "would be pushed {} -> {} by {} (dry run: nothing recorded)",
                    hop["from"].as_str().unwrap_or("?"),
                    hop["to"].as_str().unwrap_or("?"),
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
    out.push_str(&render_decision(&push["decision"]));
    out
}

fn render_decision(decision: &Value) -> String {
    match decision["decision"].as_str() {
        Some("land") => "decision: land\n".into(),
        Some("pending") => format!(
            "decision: pending ({} more approval(s) needed)\n",
            decision["needed"]
        ),
        Some("refuse") => {
            let mut out = "decision: refuse\n".to_string();
            for r in decision["reasons"].as_array().into_iter().flatten() {
                out.push_str(&format!("  - {}\n", r.as_str().unwrap_or("?")));
            }
            out
        }
        _ => String::new(),
    }
}
