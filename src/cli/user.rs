//! `airlock user cert add|list|remove`: pin client certificates to users;
//! `airlock user passwd USER --data DIR`: reset a password offline.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::client::{ApiClient, ConnectArgs, RequestBody};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Client certificates pinned to a user (mutual TLS).
    #[command(subcommand)]
    Cert(CertCommand),
    /// Set USER's password directly in the data folder (the server may be
    /// stopped; no login needed): for a forgotten root password. Reads the
    /// new password from standard input, or makes one with --generate.
    /// Recorded in the audit log.
    Passwd {
        #[arg(value_name = "USER")]
        account: String,
        /// The server's data folder.
        #[arg(long, env = "AIRLOCK_DATA")]
        data: PathBuf,
        /// Generate a random password and print it.
        #[arg(long)]
        generate: bool,
    },
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
    let cmd = match cmd {
        UserCommand::Cert(c) => c,
        UserCommand::Passwd {
            account,
            data,
            generate,
        } => return passwd_offline(&account, &data, generate).await,
    };
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

async fn passwd_offline(
    user: &str,
    data: &std::path::Path,
    generate: bool,
) -> anyhow::Result<ExitCode> {
    crate::store::require_embedded(data, "the offline password reset")?;
    if !data.join(crate::store::DB_FILE).is_file() {
        anyhow::bail!(
            "{} is not an airlock data folder (no airlock.sqlite3 in it)",
            data.display()
        );
    }
    let store = crate::store::Store::open(data)?;
    crate::registry::require_user_offline(&store, user).await?;
    let password = if generate {
        crate::registry::random_password()
    } else {
        match super::session::read_password(&format!("new password for {user}"))? {
            Some(p) if !p.is_empty() => p,
            _ => anyhow::bail!("no password given: type it on standard input, or use --generate"),
        }
    };
    crate::registry::reset_password_offline(&store, user, password.clone()).await?;
    if generate {
        print!(
            "{}",
            super::serve::password_block(
                &format!("new password for '{user}'"),
                &password,
                "shown once; the change is recorded in the audit log."
            )
        );
    } else {
        println!(
            "password of {user} changed in {} (recorded in the audit log)",
            data.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
