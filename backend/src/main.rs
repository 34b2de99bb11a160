//! `ferry-server`: see `ferry-server --help`.
use clap::Parser;
use ferry_backend::{Application, Cli, ids};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Cli::parse().into_config();
    let result = match Application::build(config).await {
        Ok(app) => app.run_until_stopped().await.map_err(anyhow::Error::from),
        Err(err) => Err(err),
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
