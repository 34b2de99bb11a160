//! `ferry-server`: see `ferry-server --help`.
use std::io::IsTerminal;

use clap::Parser;
use ferry_backend::{AppState, Application, Cli, admin, config::LogFormat, ids};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    let command = cli.command.take();
    // An admin command prints its answer on standard output: only warnings are logged.
    init_logs(
        cli.log_format,
        if command.is_some() { "warn" } else { "info" },
    );
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

/// Logs to standard output at `RUST_LOG` (default `default`), as text or one JSON object
/// per line. Every line's fields are the same either way, so both keep the redaction done
/// where they are written (`ids::short`, `ids::redact`).
fn init_logs(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => logs.json().with_ansi(false).init(),
        // Colour codes only when standard output is a terminal (a log file or journal
        // would otherwise fill with escape sequences) and NO_COLOR is unset.
        LogFormat::Text => {
            let colour = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            logs.with_ansi(colour).init();
        }
    }
}
