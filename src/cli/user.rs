//! `airlock user cert add|list|remove`: pin client certificates to users.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Client certificates pinned to a user (mutual TLS).
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Pin a certificate (PEM) to USER: it then identifies USER whatever its fields say.
    Add {
        #[arg(value_name = "USER")]
        account: String,
        pem: PathBuf,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List the certificates pinned to USER.
    List {
        #[arg(value_name = "USER")]
        account: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Unpin a certificate by its SHA-256 fingerprint.
    Remove {
        #[arg(value_name = "USER")]
        account: String,
        fingerprint: String,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

pub async fn run(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let UserCommand::Cert(cmd) = cmd;
    match cmd {
        CertCommand::Add {
            account: user,
            pem,
            connect,
        } => {
            let text = std::fs::read_to_string(&pem)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", pem.display()))?;
            let client = ApiClient::new(&connect)?;
            let r = client
                .request(
                    reqwest::Method::POST,
                    &format!("/{user}/+certs"),
                    RequestBody::Text(text, "application/x-pem-file"),
                )
                .await?;
            println!(
                "pinned {} to {user}",
                r["result"]["fingerprint"].as_str().unwrap_or("?")
            );
        }
        CertCommand::List {
            account: user,
            connect,
        } => {
            let client = ApiClient::new(&connect)?;
            let r = client.get(&format!("/{user}/+certs")).await?;
            for c in r["result"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  expires {}",
                    c["fingerprint"].as_str().unwrap_or("?"),
                    c["subject"].as_str().unwrap_or("?"),
                    crate::simple::rfc3339(c["not_after"].as_i64().unwrap_or(0))
                );
            }
        }
        CertCommand::Remove {
            account: user,
            fingerprint,
            connect,
        } => {
            let client = ApiClient::new(&connect)?;
            client
                .request(
                    reqwest::Method::DELETE,
                    &format!("/{user}/+certs/{fingerprint}"),
                    RequestBody::None,
                )
                .await?;
            println!("removed {fingerprint} from {user}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
