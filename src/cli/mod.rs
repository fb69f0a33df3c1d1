//! The `airlock` command line: argument definitions and dispatch.

pub mod alerts;
pub mod approve;
pub mod audit;
pub mod backup;
pub mod export;
pub mod fsck;
pub mod gc;
pub mod gen_config;
pub mod import_devpi;
pub mod push;
pub mod serve;
pub mod session;
pub mod store;
pub mod typo;
pub mod user;
pub mod webhooks;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    about = "A security-focused Python package index"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the index server.
    Serve(Box<serve::ServeArgs>),
    /// Typosquat checks: is a project name a look-alike of a popular or private one?
    #[command(subcommand)]
    Typo(typo::TypoCommand),
    /// Create and revoke certificates for mutual TLS (a throwaway private CA).
    #[command(subcommand)]
    Certs(crate::tls::CertsCommand),
    /// Remember the server URL the client commands talk to.
    Use(session::UseArgs),
    /// Log in and remember a login token.
    Login(session::LoginArgs),
    /// Forget the remembered login token.
    Logout,
    /// Approve a pending push (by a user other than the pusher).
    Approve(approve::ApproveArgs),
    /// Reject a pending push.
    Reject(approve::RejectArgs),
    /// List pushes (pending by default).
    Pushes(approve::PushesArgs),
    /// Security alerts (dependency-confusion attempts); exits 1 if there are any.
    Alerts(alerts::AlertsArgs),
    /// The hash-chained audit log: verify it, export it, print its head.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Push a release verbatim from one index to another (reviewed first).
    Push(push::PushArgs),
    /// User administration (client certificates).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Back up a data folder (the server may be running) and verify the copy.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new or empty data folder (verified first).
    Restore(backup::RestoreArgs),
    /// Export airlock's data (users, indexes, files, audit chain...) in a
    /// stable, versioned format (the server may be running).
    Export(export::ExportArgs),
    /// Import an export (`airlock export`, or devpi-server's `devpi-export`
    /// with `--from-devpi`) into a new or empty data folder (everything
    /// verified; what could not be carried over is listed).
    Import(export::ImportArgs),
    /// Check a data folder: blobs re-hashed, missing and unreferenced blobs,
    /// metadata, the audit chain; exits 1 on any problem.
    Fsck(fsck::FsckArgs),
    /// Mirror cache retention: evict least recently used cached mirror files
    /// (never one a stage index references) by size and/or age.
    Gc(gc::GcArgs),
    /// Print an nginx site or a systemd unit for the current `serve` settings.
    GenConfig(Box<gen_config::GenConfigArgs>),
    /// Webhooks of an index: add, list, remove, and the delivery log.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Move a data folder's storage: `store migrate` into PostgreSQL and
    /// object storage (several nodes).
    #[command(subcommand)]
    Store(store::StoreCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Store(cmd) => store::run(cmd).await,
        Command::Typo(cmd) => typo::run(cmd).await,
        Command::Use(a) => session::run_use(a).await,
        Command::Login(a) => session::run_login(a).await,
        Command::Logout => session::run_logout().await,
        Command::User(cmd) => user::run(cmd).await,
        Command::Push(a) => push::run(a).await,
        Command::Alerts(a) => alerts::run(a).await,
        Command::Approve(a) => approve::approve(a).await,
        Command::Reject(a) => approve::reject(a).await,
        Command::Pushes(a) => approve::list(a).await,
        Command::Audit(cmd) => audit::run(cmd).await,
        Command::Backup(a) => backup::run_backup(a).await,
        Command::Restore(a) => backup::run_restore(a).await,
        Command::Export(a) => export::run_export(a).await,
        Command::Import(a) => export::run_import(a).await,
        Command::Fsck(a) => fsck::run(a).await,
        Command::Gc(a) => gc::run(a).await,
        Command::Webhooks(cmd) => webhooks::run(cmd).await,
        Command::GenConfig(a) => gen_config::run(*a),
        Command::Certs(cmd) => {
            crate::tls::pki::run(&cmd)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
