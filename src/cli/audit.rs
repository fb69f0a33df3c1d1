//! `airlock audit verify|export|head`: check and read the hash-chained
//! audit log, through the API (root) or, for `verify --data`, straight
//! from a data folder's database (read-only; no server needed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::audit::{self, Head};
use crate::client::{ApiClient, ConnectArgs};
use crate::store::sql::Conn;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit 0 if intact, 1 if it was tampered with.
    Verify(VerifyArgs),
    /// Print entries as JSON lines (one object per entry).
    Export(ExportArgs),
    /// Print the head as SEQ:HASH, to keep somewhere the server cannot write.
    Head(ConnectOnly),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Read the data folder's database directly (read-only) instead of
    /// asking the server.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Also check that entry SEQ still has HASH (from `airlock audit head`
    /// taken earlier): detects truncation and a rewritten chain.
    #[arg(long, value_name = "SEQ:HASH")]
    pub anchor: Option<Head>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only entries with a higher sequence number.
    #[arg(long, default_value_t = 0)]
    pub since: i64,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ConnectOnly {
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Entries asked for per request while exporting.
const PAGE: usize = 5000;

pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(a) => verify(a).await,
        AuditCommand::Export(a) => export(a).await,
        AuditCommand::Head(a) => {
            let client = ApiClient::new(&a.connect)?;
            let r = client.get("/+audit?since=0&limit=1").await?;
            let head: Head = serde_json::from_value(r["head"].clone())
                .context("the server's answer has no audit head")?;
            println!("{head}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = match &a.data {
        Some(dir) => {
            let (dir, anchor) = (dir.clone(), a.anchor.clone());
            tokio::task::spawn_blocking(move || verify_data_folder(&dir, anchor.as_ref())).await??
        }
        None => {
            let client = ApiClient::new(&a.connect)?;
            let path = match &a.anchor {
                Some(h) => format!("/+audit/verify?anchor={h}"),
                None => "/+audit/verify".to_string(),
            };
            client.get(&path).await?
        }
    };
    let ok = report["ok"].as_bool() == Some(true);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, ok);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The report for the database of the data folder `dir`, opened read-only
/// (or the PostgreSQL database a cluster node's folder records).
fn verify_data_folder(dir: &Path, anchor: Option<&Head>) -> anyhow::Result<Value> {
    use crate::maintenance::source::{self, Metadata};
    if source::recorded_database(dir)
        .map(|l| !matches!(l, crate::store::DatabaseLocation::Local))
        .unwrap_or(true)
    {
        let metadata = Metadata::open(dir, true)?;
        let report = metadata.snapshot(|c| match anchor {
            Some(h) => audit::verify_with_anchor(c, h),
            None => audit::verify(c),
        });
        metadata.close()?;
        return Ok(report
            .with_context(|| format!("reading the audit log recorded by {}", dir.display()))?
            .to_json());
    }
    let file = dir.join(crate::store::DB_FILE);
    let conn = crate::store::Db::open_read_only(&file)?;
    let has_log: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log')",
            [],
            |r| r.get(0),
        )
        .with_context(|| format!("reading {}", file.display()))?;
    if !has_log {
        anyhow::bail!(
            "{} has no audit log (a data folder of an older airlock that was never started by this version)",
            file.display()
        );
    }
    let report = match anchor {
        Some(h) => audit::verify_with_anchor(&Conn::sqlite(&conn), h),
        None => audit::verify(&Conn::sqlite(&conn)),
    }
    .with_context(|| format!("reading the audit log of {}", file.display()))?;
    Ok(report.to_json())
}

fn print_report(report: &Value, ok: bool) {
    let head = format!(
        "{}:{}",
        report["head"]["seq"],
        report["head"]["hash"].as_str().unwrap_or("?")
    );
    let entries = &report["entries"];
    if ok {
        println!("audit log intact: {entries} entries, head {head}");
        return;
    }
    println!("audit log BROKEN: {entries} entries, head {head}");
    for p in report["problems"].as_array().into_iter().flatten() {
        println!("  - {}", p.as_str().unwrap_or("?"));
    }
}

async fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&a.connect)?;
    let mut since = a.since;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    loop {
        let r = client
            .get(&format!("/+audit?since={since}&limit={PAGE}"))
            .await?;
        let entries = r["result"].as_array().cloned().unwrap_or_default();
        let Some(last) = entries.last().and_then(|e| e["seq"].as_i64()) else {
            break;
        };
        for e in &entries {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
        if last <= since {
            anyhow::bail!("the server returned entries out of order (seq {last} after {since})");
        }
        since = last;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
