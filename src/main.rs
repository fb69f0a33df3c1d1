use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = airlock::cli::Cli::parse();
    match airlock::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airlock: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
