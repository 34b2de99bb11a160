//! `ferry-server`: see `ferry-server --help`.
use clap::Parser;
use ferry_backend::{Application, Cli};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Cli::parse().into_config();
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}
