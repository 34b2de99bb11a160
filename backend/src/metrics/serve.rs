//! Where `/metrics` is served: on a listener of its own (`--metrics-listen`, no
//! authentication: the operator keeps it off the public network), and/or on the main
//! listener behind `Authorization: Bearer <token>` (`--metrics-token`). Without the token
//! flag, `/metrics` on the main listener is whatever the web app answers there.
use std::{fmt, net::SocketAddr};

use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    dev::Server,
    http::header::{self, HeaderValue},
    web,
};
use anyhow::Context;
use ferry_common::keys::{verifier, verify_token};
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

use crate::{AppState, ids};

/// The path metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// The operator's metrics token; only its verifier is kept, so neither `Debug` nor a
/// memory dump of the configuration shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken {
    verifier: [u8; 32],
    chars: usize,
}

/// The shortest metrics token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// A metrics token too short to resist guessing.
#[derive(Debug, thiserror::Error)]
#[error("the metrics token needs at least {MIN_TOKEN_CHARS} characters")]
pub struct ShortToken;

impl MetricsToken {
    /// The token `secret` (from the environment or a flag), surrounding spaces removed.
    pub fn new(secret: &str) -> MetricsToken {
        let secret = secret.trim();
        MetricsToken {
            verifier: verifier(secret.as_bytes()),
            chars: secret.chars().count(),
        }
    }

    /// Refuses a short token. Checked at startup, not while parsing the flag: clap's
    /// error would quote the refused value, the secret, on standard error.
    pub fn check(&self) -> Result<(), ShortToken> {
        if self.chars < MIN_TOKEN_CHARS {
            return Err(ShortToken);
        }
        Ok(())
    }

    /// Whether `presented` is the token, compared in constant time (of verifiers).
    fn admits(&self, presented: &[u8]) -> bool {
        verify_token(presented, &self.verifier)
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(redacted)")
    }
}

impl std::str::FromStr for MetricsToken {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<MetricsToken, Self::Err> {
        Ok(MetricsToken::new(text))
    }
}

/// `GET /metrics` on the main listener when the operator set a token.
pub fn configure_with_token(cfg: &mut web::ServiceConfig, token: Option<MetricsToken>) {
    let Some(token) = token else {
        return;
    };
    let token = web::Data::new(token);
    cfg.service(
        web::resource(METRICS_PATH)
            .app_data(token)
            .route(web::get().to(behind_token)),
    );
}

async fn behind_token(
    req: HttpRequest,
    token: web::Data<MetricsToken>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    if !presented.is_some_and(|p| token.admits(p)) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("this needs the metrics token (Authorization: Bearer <token>)\n");
    }
    scrape(&state).await
}

async fn open(state: web::Data<AppState>) -> HttpResponse {
    scrape(&state).await
}

/// Reads the gauges from the database and encodes every metric; 503 when the database
/// does not answer (a failed scrape shows as `up == 0`, not as stale numbers).
async fn scrape(state: &AppState) -> HttpResponse {
    let metrics = &state.metrics;
    let counts = metrics
        .db(
            super::DbOp::Counts,
            state.shares.counts(state.shares.now_ms()),
        )
        .await;
    match counts {
        Ok(counts) => metrics.set_counts(&counts, state.gate.open()),
        Err(err) => {
            let error = ids::redact(&format!("{err:#}"));
            tracing::warn!(error, "metrics: the database did not answer");
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body("the database did not answer\n");
        }
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics.encode())
}

/// The metrics listener: `GET /metrics` only, one worker (a scrape every few seconds).
/// Returns its port and the server to run.
pub fn listen(addr: SocketAddr, state: &AppState) -> anyhow::Result<(u16, Server)> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("listening for metrics on {addr}"))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(METRICS_PATH, web::get().to(open))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}
