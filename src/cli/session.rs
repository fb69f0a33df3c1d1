//! `airlock use`, `airlock login`, `airlock logout`: which server the client
//! commands talk to and as whom (remembered like `devpi use` / `login`).

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::client::{ApiClient, ClientConfig, ConnectArgs, RequestBody};

#[derive(Debug, Args)]
pub struct UseArgs {
    /// Server URL, e.g. http://127.0.0.1:3141
    #[arg(value_name = "URL")]
    pub server: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run_use(args: UseArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ClientConfig::load()?.with_args(&ConnectArgs {
        url: Some(args.server.clone()),
        ..args.connect.clone()
    });
    let client = ApiClient::from_config(cfg.clone(), None)?;
    let api = client.get("/+api").await?;
    cfg.url = Some(client.base.clone());
    cfg.save()?;
    println!(
        "using server {} (login: {})",
        client.base,
        api["result"]["login"].as_str().unwrap_or("?")
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User to log in as.
    #[arg(value_name = "USER")]
    pub account: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn run_login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ClientConfig::load()?.with_args(&args.connect);
    cfg.user = Some(args.account.clone());
    cfg.token = None;
    let password = match &args.connect.password {
        Some(p) => p.clone(),
        None => match read_password(&format!("password for {}", args.account))? {
            Some(p) if !p.is_empty() => p,
            _ => anyhow::bail!(
                "no password given: type it at the prompt, or pass --password (or AIRLOCK_PASSWORD)"
            ),
        },
    };
    let client = ApiClient::from_config(cfg.clone(), None)?;
    let resp = client
        .request(
            reqwest::Method::POST,
            "/+login",
            RequestBody::Json(json!({"user": args.account, "password": password})),
        )
        .await?;
    let token = resp["result"]["password"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the server sent no token"))?;
    let hours = resp["result"]["expiration"].as_i64().unwrap_or(0) / 3600;
    cfg.token = Some(token.to_string());
    cfg.save()?;
    println!(
        "logged in as {} at {} (token valid for {hours} h)",
        args.account, client.base
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run_logout() -> anyhow::Result<ExitCode> {
    let mut cfg = ClientConfig::load()?;
    cfg.token = None;
    cfg.save()?;
    println!("logged out");
    Ok(ExitCode::SUCCESS)
}

/// One line from standard input (prompted on a terminal); `None` when
/// standard input is closed before anything was read (`</dev/null`).
pub fn read_password(prompt: &str) -> anyhow::Result<Option<String>> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("{prompt}: ");
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}
