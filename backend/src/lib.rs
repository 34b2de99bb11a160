//! Ferry's server: stores end-to-end encrypted shares it cannot read.
//!
//! The server only ever holds ciphertext, the 40-byte public header, sealed metadata
//! and verifiers of the download and owner tokens. Uploads and downloads run over
//! WebSockets (`docs/PROTOCOL.md`); blobs go through `object_store` ([`blobs`]),
//! metadata through sqlx's `Any` driver ([`store`]), where every lifecycle change is one
//! conditional SQL statement.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = ferry_backend::Config::for_tests("/tmp/ferry-data".into());
//! let app = ferry_backend::Application::build(config).await?;
//! println!("listening on port {}", app.port());
//! app.run_until_stopped().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod admission;
pub mod blobs;
pub mod config;
pub mod credentials;
pub mod descriptors;
pub mod download;
pub mod gate;
pub mod http;
pub mod http_download;
pub mod ids;
pub mod invitations;
pub mod lifecycle;
pub mod metrics;
pub mod origin;
pub mod rate;
pub mod space;
pub mod store;
pub mod upload;
pub mod web;
pub mod ws;

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpServer, dev::Server, middleware, web as aweb};
use anyhow::Context;
use ferry_common::protocol::{
    DOWNLOAD_PATH, INVITATIONS_PATH, LIMITS_PATH, SHARES_PATH, UPLOAD_PATH,
};

pub use config::{Cli, Config};
pub use web::CSP;

use crate::{
    blobs::BlobStore, gate::SocketGate, metrics::Metrics, space::Space, store::ShareStore,
};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// Share metadata.
    pub shares: ShareStore,
    /// Ciphertext blobs.
    pub blobs: BlobStore,
    /// Free space on the data directory's filesystem.
    pub space: Space,
    /// Caps on open WebSockets.
    pub gate: Arc<SocketGate>,
    /// Per-address rate limits.
    pub rates: Arc<rate::RateLimits>,
    /// What `/metrics` reports.
    pub metrics: Metrics,
}

impl AppState {
    /// Opens the database (migrating it) and the blob store `config` names, with the
    /// space accounting, socket caps, rate limits and metrics: what serving and
    /// `ferry-server admin` share.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let shares = ShareStore::connect(&config.database_url()).await?;
        let metrics = Metrics::new();
        let blobs = BlobStore::open(&config.blobs, &config.data_dir)
            .await?
            .timed(&metrics);
        let space = if blobs.is_local() {
            Space::new(&config.data_dir, config.reserve_space)
        } else {
            Space::blobs_elsewhere(&config.data_dir, config.reserve_space)
        };
        tracing::info!(
            blobs = if blobs.is_local() {
                "data directory"
            } else {
                "S3 bucket"
            },
            "blob store opened"
        );
        let descriptors = descriptors::raise_limit();
        let max_sockets = config
            .max_sockets
            .unwrap_or_else(|| descriptors::default_max_sockets(descriptors));
        tracing::info!(
            open_files = descriptors,
            max_sockets,
            max_sockets_per_ip = config.max_sockets_per_ip,
            "socket caps"
        );
        let gate = SocketGate::new(config.max_sockets_per_ip, max_sockets);
        let rates = Arc::new(rate::RateLimits::new(&config));
        Ok(AppState {
            config: Arc::new(config),
            shares,
            blobs,
            space,
            gate,
            rates,
            metrics,
        })
    }
}

/// Every route; tests and the binary mount the same app.
pub fn configure(cfg: &mut aweb::ServiceConfig, static_dir: Option<std::path::PathBuf>) {
    let share = format!("{SHARES_PATH}/{{id}}");
    cfg.route("/healthz", aweb::get().to(http::healthz))
        .service(http::api(LIMITS_PATH, "GET").route(aweb::get().to(http::get_limits)))
        .service(
            http::api(&share, "GET, DELETE")
                .route(aweb::get().to(http::share_info))
                .route(aweb::delete().to(http::delete_share)),
        )
        .service(
            http::api(&format!("{share}/status"), "GET").route(aweb::get().to(http::share_status)),
        )
        .service(
            http::api(&format!("{share}/claims"), "POST")
                .route(aweb::post().to(http_download::claim)),
        )
        .service(
            http::api(&format!("{share}/chunks"), "GET")
                .route(aweb::get().to(http_download::chunks)),
        )
        .service(
            http::api(&format!("{share}/claims/done"), "POST")
                .route(aweb::post().to(http_download::done)),
        )
        .service(http::api(INVITATIONS_PATH, "POST").route(aweb::post().to(invitations::create)))
        .service(
            http::api(&format!("{INVITATIONS_PATH}/check"), "POST")
                .route(aweb::post().to(invitations::check)),
        )
        .service(http::api(UPLOAD_PATH, "GET").route(aweb::get().to(upload::upload_ws)))
        .service(http::api(DOWNLOAD_PATH, "GET").route(aweb::get().to(download::download_ws)));
    // After every API route, before the web app: the rest of `/api` is an API 404.
    cfg.service(http::api_not_found());
    web::configure_static(cfg, static_dir);
}

/// A built server: bound to its port, storage opened and reconciled.
pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener (`--metrics-listen`) and its port.
    metrics: Option<(u16, Server)>,
    state: AppState,
}

impl Application {
    /// Opens storage, reconciles it, binds the listener and builds the HTTP server.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        if let Some(token) = &config.metrics_token {
            token.check()?;
        }
        let state = AppState::open(config).await?;
        lifecycle::reconcile(&state).await?;
        let config = state.config.clone();
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("listening on {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let data = aweb::Data::new(state.clone());
        let static_dir = config.static_dir.clone();
        let metrics_token = config.metrics_token.clone();
        let idle = config.idle_timeout;
        if static_dir
            .as_ref()
            .is_none_or(|d| !d.join("index.html").is_file())
        {
            tracing::warn!("no built web app (--static-dir); serving a placeholder page at /");
        }
        let mut server = HttpServer::new(move || {
            let static_dir = static_dir.clone();
            let metrics_token = metrics_token.clone();
            App::new()
                .app_data(data.clone())
                .configure(move |cfg| metrics::serve::configure_with_token(cfg, metrics_token))
                .configure(move |cfg| configure(cfg, static_dir))
                .wrap(middleware::from_fn(metrics::count_refusals))
                .wrap(middleware::Compress::default())
                .wrap(middleware::from_fn(web::headers_and_log))
        })
        .on_connect(move |conn, _| ws::bound_unacknowledged(conn, idle))
        // No lingering after a response: a WebSocket ends only once the client's close
        // frame is read or the close grace passed (`ws::finish`), and actix-http's linger
        // would then hold every socket open for this timeout (1 s by default) waiting for
        // a client that waits for the server to close first.
        .client_disconnect_timeout(std::time::Duration::ZERO);
        if let Some(workers) = config.workers {
            server = server.workers(workers.max(1));
        }
        let server = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let tls = tls_config(cert, key)?;
                tracing::info!(port, "serving HTTPS and WSS");
                server.listen_rustls_0_23(listener, tls)?
            }
            _ => server.listen(listener)?,
        }
        .run();
        tracing::info!(port, "listening");
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let (metrics_port, server) = metrics::serve::listen(addr, &state)?;
                tracing::info!(metrics_port, "serving metrics");
                Some((metrics_port, server))
            }
            None => None,
        };
        Ok(Application {
            port,
            server,
            metrics,
            state,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when there is one (`--metrics-listen`).
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// A handle that stops the server (`handle.stop(true).await` for a graceful stop);
    /// `run_until_stopped` then returns.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The shared state (for tests that inspect storage).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs the server (and the periodic sweep, when this process holds the janitor
    /// lease) until it stops (SIGINT/SIGTERM); then gives the lease up.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let janitor = Arc::new(lifecycle::Janitor::new(
            self.state.clone(),
            self.state.config.sweep_interval,
        )?);
        let sweeper = tokio::spawn(janitor.clone().run());
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let result = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        sweeper.abort();
        janitor.resign().await;
        self.state.shares.close().await;
        Ok(result?)
    }
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key")?;
    Ok(config)
}
