//! `airlock gen-config nginx|systemd`: print an nginx site or a systemd unit
//! for the settings `serve` would run with (the same flags and `AIRLOCK_*`
//! variables), see `crate::deploy`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{ArgAction, Args, CommandFactory, ValueEnum};

use super::serve::ServeArgs;
use crate::deploy::{Deployment, TlsMode};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigKind {
    /// An nginx site in front of airlock.
    Nginx,
    /// A hardened systemd unit running `airlock serve`.
    Systemd,
}

#[derive(Debug, Args)]
pub struct GenConfigArgs {
    /// What to print.
    #[arg(value_enum)]
    pub kind: ConfigKind,
    /// nginx: where it listens for clients (default: the outside URL's port
    /// on every address), e.g. `127.0.0.1:8443`.
    #[arg(long)]
    pub nginx_listen: Option<String>,
    /// nginx: its TLS certificate chain (PEM), when nginx terminates TLS.
    #[arg(long, requires = "nginx_tls_key")]
    pub nginx_tls_cert: Option<PathBuf>,
    /// nginx: the key of --nginx-tls-cert.
    #[arg(long, requires = "nginx_tls_cert")]
    pub nginx_tls_key: Option<PathBuf>,
    /// systemd: the airlock binary to start (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// systemd: the system user airlock runs as.
    #[arg(long, default_value = "airlock")]
    pub user: String,
    /// The settings of `airlock serve` (same flags, same variables).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `serve` flags that name files or folders: made absolute for the unit.
const PATH_ARGS: &[&str] = &[
    "data",
    "policies",
    "audit_jsonl",
    "metrics_token_file",
    "tls_cert",
    "tls_key",
    "client_ca",
    "crl",
    "upstream_ca",
    "proxy_socket",
];

pub fn run(mut args: GenConfigArgs) -> anyhow::Result<ExitCode> {
    // serve's default: ./policies when it exists
    if args.serve.policies.is_none() && Path::new("policies").is_dir() {
        args.serve.policies = Some(PathBuf::from("policies"));
    }
    let all = super::Cli::command().get_matches_from(std::env::args_os());
    let matches = all
        .subcommand_matches("gen-config")
        .context("gen-config arguments")?;
    let serve_args = serve_command_line(&args.serve, matches)?;
    let d = deployment(&args, serve_args)?;
    let text = match args.kind {
        ConfigKind::Nginx => {
            check_nginx(&args, &d)?;
            crate::deploy::nginx::render(&d)
        }
        ConfigKind::Systemd => {
            check_systemd(&d);
            crate::deploy::systemd::render(&d)
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("making {} absolute", p.display()))
}

/// The `serve` command line for these settings: `--data` and `--listen`
/// always, `--policies` when there is a policy folder, and every other flag
/// given on the command line or through its variable.
fn serve_command_line(
    serve: &ServeArgs,
    matches: &clap::ArgMatches,
) -> anyhow::Result<Vec<String>> {
    let mut out = vec![
        "--data".to_string(),
        absolute(&serve.data)?.display().to_string(),
        "--listen".to_string(),
        serve.listen.clone(),
    ];
    if let Some(p) = &serve.policies {
        out.push("--policies".into());
        out.push(absolute(p)?.display().to_string());
    }
    let defs = ServeArgs::augment_args(clap::Command::new("serve"));
    for arg in defs.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "data" | "listen" | "policies") {
            continue;
        }
        let given = matches!(
            matches.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        );
        let Some(long) = arg.get_long() else { continue };
        if !given {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue => {
                if matches.get_flag(id) {
                    out.push(format!("--{long}"));
                }
            }
            ArgAction::SetFalse | ArgAction::Count => {}
            _ => {
                let values: Vec<OsString> = matches
                    .get_raw(id)
                    .map(|v| v.map(|s| s.to_os_string()).collect())
                    .unwrap_or_default();
                for v in values {
                    let v = if PATH_ARGS.contains(&id) {
                        absolute(Path::new(&v))?.into_os_string()
                    } else {
                        v
                    };
                    let Some(v) = v.to_str() else {
                        bail!("--{long}: the value is not UTF-8");
                    };
                    out.push(format!("--{long}"));
                    out.push(v.to_string());
                }
            }
        }
    }
    Ok(out)
}

fn deployment(args: &GenConfigArgs, serve_args: Vec<String>) -> anyhow::Result<Deployment> {
    let s = &args.serve;
    let outside_url = match &s.outside_url {
        Some(u) => Some(
            u.parse::<reqwest::Url>()
                .map_err(|e| anyhow::anyhow!("--outside-url {u:?}: {e}"))?,
        ),
        None => None,
    };
    let binary = match &args.binary {
        Some(b) => absolute(b)?,
        None => std::env::current_exe().context("finding this binary")?,
    };
    let tls = match (&s.tls.tls_cert, &args.nginx_tls_cert, &args.nginx_tls_key) {
        (Some(_), _, _) => TlsMode::PassThrough,
        (None, Some(cert), Some(key)) => TlsMode::AtNginx {
            cert: absolute(cert)?,
            key: absolute(key)?,
        },
        _ => TlsMode::Plain,
    };
    let mut read_paths: Vec<PathBuf> = Vec::new();
    let mut writable_paths = Vec::new();
    for p in s
        .policies
        .iter()
        .chain(s.tls.tls_cert.iter())
        .chain(s.tls.tls_key.iter())
    {
        read_paths.push(absolute(p)?);
    }
    for p in s.tls.client_ca.iter().chain(s.tls.crl.iter()) {
        read_paths.push(absolute(p)?);
    }
    // an audit export, and the front proxy's socket (created at start,
    // removed at shutdown): their folders, unless inside the data folder
    let data = absolute(&s.data)?;
    for p in s.audit_jsonl.iter().chain(s.proxy.proxy_socket.iter()) {
        let p = absolute(p)?;
        let dir = p.parent().map(Path::to_path_buf).unwrap_or(p);
        if !dir.starts_with(&data) && !writable_paths.contains(&dir) {
            writable_paths.push(dir);
        }
    }
    Ok(Deployment {
        binary,
        data,
        listen: s.listen.clone(),
        outside_url,
        serve_args,
        writable_paths,
        read_paths,
        accel: s.accel_redirect.clone(),
        max_upload_mb: s.max_upload_mb,
        tls,
        nginx_listen: args.nginx_listen.clone(),
        user: args.user.clone(),
    })
}

fn check_nginx(args: &GenConfigArgs, d: &Deployment) -> anyhow::Result<()> {
    let Some(url) = &d.outside_url else {
        bail!(
            "give --outside-url (the URL clients use, e.g. https://pkg.acme.internal): \
             behind nginx airlock builds its links from it"
        );
    };
    let https = url.scheme() == "https";
    match &d.tls {
        TlsMode::PassThrough => {
            if d.accel.is_some() {
                bail!(
                    "--accel-redirect needs nginx to see HTTP, but with --tls-cert airlock \
                     terminates TLS and nginx only passes the connection through; drop one"
                );
            }
            if !https {
                bail!("airlock serves HTTPS (--tls-cert): the outside URL must be https://");
            }
        }
        TlsMode::AtNginx { .. } if !https => {
            bail!("--nginx-tls-cert with an http:// outside URL: use https:// in --outside-url")
        }
        TlsMode::Plain if https => bail!(
            "the outside URL is https://: give nginx its certificate with --nginx-tls-cert and \
             --nginx-tls-key (or let airlock terminate TLS with --tls-cert)"
        ),
        _ => {}
    }
    if args.serve.proxy_basic_auth {
        eprintln!(
            "note: --proxy-basic-auth: this site does no Basic authentication itself; add it \
             (auth_basic) or clients' Basic credentials are simply ignored"
        );
    }
    if !listens_on_loopback(&d.listen) {
        eprintln!(
            "warning: airlock listens on {} (not loopback): clients could bypass nginx; \
             listen on 127.0.0.1 behind it",
            d.listen
        );
    }
    Ok(())
}

fn check_systemd(d: &Deployment) {
    for tmp in ["/tmp", "/var/tmp"] {
        if d.data.starts_with(tmp) {
            eprintln!(
                "warning: the data folder {} is under {tmp}, which PrivateTmp= hides from \
                 the service: move it (e.g. /var/lib/airlock)",
                d.data.display()
            );
        }
    }
}

fn listens_on_loopback(listen: &str) -> bool {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => listen.starts_with("localhost:"),
    }
}
