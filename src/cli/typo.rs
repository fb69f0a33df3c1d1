//! `airlock typo …`: offline checks (the engine's own CLI) and the server's
//! allow/deny rules (over the HTTP API).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Subcommand)]
pub enum TypoCommand {
    /// Check project names for look-alikes of popular or private projects.
    /// Exits 1 when any name is suspicious.
    Check(crate::typo::cli::CheckArgs),
    /// Let a flagged name through on an index (or everywhere, as root).
    Allow(RuleArgs),
    /// Always refuse a name on an index (or everywhere, as root).
    Deny(RuleArgs),
    /// Remove an allow/deny rule.
    Unset(RuleArgs),
    /// List the server's allow/deny rules.
    Rules {
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Debug, Args)]
pub struct RuleArgs {
    /// Project name.
    pub name: String,
    /// Index the rule applies to (USER/INDEX); without it: every index (root only).
    #[arg(long)]
    pub index: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

fn rule_path(args: &RuleArgs) -> String {
    match &args.index {
        Some(i) => format!("/{}/+typo/{}", i.trim_matches('/'), args.name),
        None => format!("/+typo/rules/{}", args.name),
    }
}

pub async fn run(cmd: TypoCommand) -> anyhow::Result<ExitCode> {
    let (args, verdict) = match cmd {
        TypoCommand::Check(a) => {
            return crate::typo::cli::run(crate::typo::cli::TypoCommand::Check(a))
        }
        TypoCommand::Rules { connect } => {
            let client = ApiClient::new(&connect)?;
            let r = client.get("/+typo/rules").await?;
            for rule in r["result"].as_array().into_iter().flatten() {
                let scope = rule["scope"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("*");
                println!(
                    "{}\t{}\t{}\tby {}",
                    rule["verdict"].as_str().unwrap_or("?"),
                    rule["name"].as_str().unwrap_or("?"),
                    scope,
                    rule["set_by"].as_str().unwrap_or("?")
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        TypoCommand::Unset(a) => {
            let client = ApiClient::new(&a.connect)?;
            client
                .request(reqwest::Method::DELETE, &rule_path(&a), RequestBody::None)
                .await?;
            println!("removed the rule for {}", a.name);
            return Ok(ExitCode::SUCCESS);
        }
        TypoCommand::Allow(a) => (a, "allow"),
        TypoCommand::Deny(a) => (a, "deny"),
    };
    let client = ApiClient::new(&args.connect)?;
    client
        .request(
            reqwest::Method::PUT,
            &rule_path(&args),
            RequestBody::Json(json!({"verdict": verdict})),
        )
        .await?;
    let scope = args.index.as_deref().unwrap_or("every index");
    println!("{verdict}ed {} on {scope}", args.name);
    Ok(ExitCode::SUCCESS)
}
