//! The web app's files, security headers on every response, cache rules and a request
//! log that never shows a full share ID.
use std::{path::PathBuf, time::Instant};

use actix_files::{Files, NamedFile};
use actix_web::{
    HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
    web,
};

use crate::ids;

/// The Content-Security-Policy sent with every response: only what the web app needs
/// (its own scripts and wasm, workers, WebSockets to this origin, and same-origin frames:
/// a hidden iframe starts a streamed download that the service worker answers).
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; \
frame-src 'self'; manifest-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// The Permissions-Policy sent with every response: every powerful feature off except
/// writing to the clipboard (the "Copy link" button), so neither the app nor anything
/// injected into it can reach camera, microphone, location, sensors or devices.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), clipboard-read=(), \
clipboard-write=(self), display-capture=(), fullscreen=(), geolocation=(), gyroscope=(), \
hid=(), idle-detection=(), magnetometer=(), microphone=(), midi=(), payment=(), \
publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), \
xr-spatial-tracking=()";

/// Strict-Transport-Security when the server speaks TLS itself: a year, this host only
/// (other services on subdomains are not the server's to decide for).
pub const HSTS: &str = "max-age=31536000";

/// Cache rule for files whose names carry a Trunk content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether a file name carries a Trunk content hash: `-` and 16 hex digits followed by
/// `.` or `_` (`app-0123456789abcdef_bg.wasm`, `style-0123456789abcdef.css`).
pub fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).as_bytes();
    name.windows(18).any(|w| {
        w[0] == b'-'
            && w[1..17].iter().all(u8::is_ascii_hexdigit)
            && (w[17] == b'.' || w[17] == b'_')
    })
}

/// A path fit for logs, read as the router reads it (percent-decoded): share-ID-shaped
/// segments cut to their first four characters, and so is any share-ID-length word
/// elsewhere, except in the web app's hashed file names.
pub fn redact_path(path: &str) -> String {
    ids::percent_decode(path)
        .split('/')
        .map(|seg| {
            if ids::is_share_id(seg) {
                format!("{}…", ids::short(seg))
            } else if is_hashed(seg) {
                seg.to_owned()
            } else {
                ids::redact(seg)
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Middleware: security headers and cache rules on every response, plus a log line.
pub async fn headers_and_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // True only when this server terminates TLS; behind a proxy the proxy sets HSTS.
    let tls = req.app_config().secure();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let set = |headers: &mut actix_web::http::header::HeaderMap,
               name: HeaderName,
               value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // A window this app opens, or that opens it, gets no handle on it (`window.opener`).
    set(headers, header::CROSS_ORIGIN_OPENER_POLICY, "same-origin");
    set(
        headers,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    if tls {
        set(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        let rule = if is_hashed(&path) && res.status().is_success() {
            IMMUTABLE
        } else {
            "no-cache"
        };
        set(res.headers_mut(), header::CACHE_CONTROL, rule);
    }
    tracing::info!(
        %method,
        path = %redact_path(&path),
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}

/// The page served when no built web app is configured.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Ferry</title>\
<h1>Ferry</h1><p>The web app is not built (start the server with <code>--static-dir</code> \
pointing at the built app). The API and the command-line client work.</p>";

async fn not_built() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(NOT_BUILT)
}

#[derive(Clone)]
struct IndexFile(PathBuf);

async fn app_index(index: web::Data<IndexFile>) -> actix_web::Result<NamedFile> {
    Ok(NamedFile::open_async(&index.0).await?)
}

/// Serves the built web app from `static_dir` (if it holds an `index.html`), with
/// `/s/{id}` answering the app's `index.html`; otherwise a placeholder page.
pub fn configure_static(cfg: &mut web::ServiceConfig, static_dir: Option<PathBuf>) {
    match static_dir.filter(|dir| dir.join("index.html").is_file()) {
        Some(dir) => {
            cfg.app_data(web::Data::new(IndexFile(dir.join("index.html"))))
                .route("/s/{id}", web::get().to(app_index))
                .service(
                    Files::new("/", dir)
                        .index_file("index.html")
                        .prefer_utf8(true),
                );
        }
        None => {
            cfg.route("/", web::get().to(not_built))
                .route("/s/{id}", web::get().to(not_built));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/ferry-frontend-0123456789abcdef_bg.wasm"));
        assert!(is_hashed("/style-0123456789abcdef.css"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/sw.js"));
        assert!(!is_hashed("/app-0123456789abcde.js"));
    }

    #[test]
    fn share_ids_are_redacted() {
        assert_eq!(
            redact_path("/api/shares/AAAABBBBCCCCDDDDEEEEFF/status"),
            "/api/shares/AAAA…/status"
        );
        assert_eq!(redact_path("/api/limits"), "/api/limits");
        assert_eq!(
            redact_path("/ferry-frontend-0123456789abcdef_bg.wasm"),
            "/ferry-frontend-0123456789abcdef_bg.wasm"
        );
    }

    /// Issue 12: `/api/shares/%4C…` was logged with 21 of the ID's 22 characters.
    #[test]
    fn escaped_share_ids_are_redacted() {
        assert_eq!(
            redact_path("/api/shares/%4CAAABBBBCCCCDDDDEEEEFF"),
            "/api/shares/LAAA…"
        );
        assert_eq!(redact_path("/s/%41AAA%42BBBCCCCDDDDEEEEFF/x"), "/s/AAAA…/x");
        assert_eq!(
            redact_path("/s/AAAABBBBCCCCDDDDEEEEFF.json"),
            "/s/AAAA….json"
        );
    }
}
