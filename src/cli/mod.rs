//! The `airlock` command line: argument definitions and dispatch.

pub mod serve;

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
    Serve(serve::ServeArgs),
    /// Typosquat checks: is a project name a look-alike of a popular or private one?
    #[command(subcommand)]
    Typo(crate::typo::cli::TypoCommand),
    /// Create and revoke certificates for mutual TLS (a throwaway private CA).
    #[command(subcommand)]
    Certs(crate::tls::CertsCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Typo(cmd) => crate::typo::cli::run(cmd),
        Command::Certs(cmd) => {
            crate::tls::pki::run(&cmd)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
