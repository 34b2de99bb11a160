//! `ferry-server`: see `ferry-server --help`.
use std::io::IsTerminal;

use clap::Parser;
use ferry_backend::{AppState, Application, Cli, admin, ids};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The log goes to standard output; colour codes only when that is a terminal (a log
    // file or journal would otherwise fill with escape sequences) and NO_COLOR is unset.
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // An admin command prints its answer on standard output: only warnings are logged.
    let admin = std::env::args().skip(1).any(|a| a == "admin");
    let default = if admin { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_ansi(colour)
        .init();
    let mut cli = Cli::parse();
    let command = cli.command.take();
    let config = cli.into_config();
    let result = match command {
        Some(admin::Command::Admin(cmd)) => run_admin(config, cmd).await,
        None => match Application::build(config).await {
            Ok(app) => app.run_until_stopped().await,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Error chains may name blob paths: never print a full share ID.
            eprintln!("ferry-server: {}", ids::redact(&format!("{err:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_admin(config: ferry_backend::Config, cmd: admin::Admin) -> anyhow::Result<()> {
    let state = AppState::open(config).await?;
    let out = admin::run(&state, cmd).await;
    state.shares.close().await;
    print!("{}", out?);
    Ok(())
}
