//! Plain HTTP endpoints: health, limits, share information and the owner's status and
//! delete.
use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{StatusCode, header},
    web,
};
use ferry_common::{
    keys::verify_token,
    protocol::{ErrorBody, ErrorCode, Limits, ShareInfo, ShareStatus},
};

use crate::{
    AppState,
    config::SERVER_MAX_CHUNK_SIZE,
    download::gone_refusal,
    ids,
    lifecycle::remove_share,
    store::{GoneReason, Lookup},
    ws::End,
};

/// Expiry choices offered to clients (seconds), capped at the server's maximum.
pub const EXPIRY_CHOICES: [u64; 4] = [300, 3600, 86_400, 604_800];
/// Download-limit choices offered to clients, capped at the server's maximum.
pub const DOWNLOAD_CHOICES: [u32; 8] = [1, 2, 3, 5, 10, 20, 50, 100];

const OWNER_TOKEN_MISSING: &str =
    "this needs the share's owner token (Authorization: Bearer <token>)";

/// An HTTP refusal: status plus [`ErrorBody`] JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                attempts_left: None,
            },
        }
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            OWNER_TOKEN_MISSING,
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.body.code, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(&self.body);
        crate::metrics::mark(&mut res, self.body.code);
        res
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> ApiError {
        End::internal(err).into()
    }
}

impl From<End> for ApiError {
    fn from(end: End) -> ApiError {
        match end {
            End::Refuse { body, .. } => {
                let status = match body.code {
                    ErrorCode::NotFound => StatusCode::NOT_FOUND,
                    ErrorCode::Expired | ErrorCode::UsedUp => StatusCode::GONE,
                    ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
                    ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
                    ErrorCode::WrongToken => StatusCode::FORBIDDEN,
                    ErrorCode::Busy | ErrorCode::ClaimLost => StatusCode::CONFLICT,
                    ErrorCode::CredentialRequired => StatusCode::UNAUTHORIZED,
                    ErrorCode::CredentialRefused => StatusCode::FORBIDDEN,
                    ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError { status, body }
            }
            End::Gone | End::Stalled => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "the server failed; please try again later",
            ),
        }
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such share; check the link",
    )
}

/// An API resource at `path` whose other methods answer `405` with an [`ErrorBody`] and
/// `Allow: allow` (actix-web's own 405 has an empty body, and the API promises an
/// `ErrorBody` with every refusal).
pub fn api(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut res = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("this path answers only {allow}"),
        )
        .error_response();
        res.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        res
    }))
}

/// `/api` and everything under it that no API route took: `404` with an [`ErrorBody`]
/// (any method), never the web app's files or an empty body.
pub fn api_not_found() -> actix_web::Resource {
    web::resource(["/api", "/api/{tail:.*}"]).to(|| async {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such API endpoint",
        )
        .error_response()
    })
}

/// `GET /healthz`.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("ok")
}

/// The limits a configuration implies.
pub fn limits(config: &crate::Config) -> Limits {
    Limits {
        max_file_size: config.max_file_size,
        max_expiry_secs: config.max_expiry_secs,
        expiry_choices_secs: EXPIRY_CHOICES
            .iter()
            .copied()
            .filter(|s| *s <= config.max_expiry_secs)
            .collect(),
        max_downloads: config.max_downloads,
        download_choices: DOWNLOAD_CHOICES
            .iter()
            .copied()
            .filter(|d| *d <= config.max_downloads)
            .collect(),
        max_chunk_size: SERVER_MAX_CHUNK_SIZE,
        upload_access: config.upload_access,
    }
}

/// `GET /api/limits`.
pub async fn get_limits(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(limits(&state.config))
}

/// `GET /api/shares/{id}`: the public header; consumes nothing.
pub async fn share_info(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !ids::is_share_id(&id) {
        return Err(not_found());
    }
    let info = match state.shares.lookup(&id).await? {
        Lookup::NotFound => return Err(not_found()),
        Lookup::Gone(t) => return Err(gone_refusal(t.reason).into()),
        Lookup::Live(row) if row.expires_at <= state.shares.now_ms() => {
            return Err(gone_refusal(GoneReason::Expired).into());
        }
        Lookup::Live(row) if row.downloads_left == 0 => {
            return Err(gone_refusal(GoneReason::UsedUp).into());
        }
        Lookup::Live(row) => ShareInfo {
            header: row.header.into(),
            ciphertext_size: row.ciphertext_size,
            downloads_left: row.downloads_left,
            attempts_left: row.attempts_left,
            expires_at: row.expires_at,
        },
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(info))
}

/// The token in `Authorization: Bearer <base64url>`, or `401` with `missing` as its
/// message.
pub(crate) fn bearer(req: &HttpRequest, missing: &str) -> Result<Vec<u8>, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, missing);
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let token = value.strip_prefix("Bearer ").ok_or_else(unauthorized)?;
    ferry_common::b64::decode(token.trim()).map_err(|_| unauthorized())
}

/// The owner token from `Authorization: Bearer <base64url>`.
fn owner_token(req: &HttpRequest) -> Result<Vec<u8>, ApiError> {
    bearer(req, OWNER_TOKEN_MISSING)
}

/// `GET /api/shares/{id}/status` for the owner.
pub async fn share_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let token = owner_token(&req)?;
    if !ids::is_share_id(&id) {
        return Err(not_found());
    }
    let status = match state.shares.lookup(&id).await? {
        Lookup::NotFound => return Err(not_found()),
        Lookup::Live(row) => {
            if !verify_token(&token, &row.owner_verifier) {
                return Err(ApiError::unauthorized());
            }
            if row.expires_at <= state.shares.now_ms() {
                return Err(gone_refusal(GoneReason::Expired).into());
            }
            ShareStatus {
                downloads_done: row.max_downloads.saturating_sub(row.downloads_left),
                downloads_left: row.downloads_left,
                expires_at: row.expires_at,
            }
        }
        Lookup::Gone(t) => {
            if !verify_token(&token, &t.owner_verifier) {
                return Err(ApiError::unauthorized());
            }
            if t.reason != GoneReason::UsedUp {
                return Err(gone_refusal(t.reason).into());
            }
            ShareStatus {
                downloads_done: t.downloads_done,
                downloads_left: 0,
                expires_at: t.expires_at,
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(status))
}

/// `DELETE /api/shares/{id}` for the owner: 204 when the share is gone afterwards.
pub async fn delete_share(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let token = owner_token(&req)?;
    if !ids::is_share_id(&id) {
        return Err(not_found());
    }
    match state.shares.lookup(&id).await? {
        Lookup::NotFound => Err(not_found()),
        Lookup::Live(row) => {
            if !verify_token(&token, &row.owner_verifier) {
                return Err(ApiError::unauthorized());
            }
            remove_share(&state, &id, GoneReason::Deleted).await?;
            tracing::info!(share = %ids::short(&id), "share deleted by its owner");
            Ok(HttpResponse::NoContent().finish())
        }
        Lookup::Gone(t) => {
            if !verify_token(&token, &t.owner_verifier) {
                return Err(ApiError::unauthorized());
            }
            Ok(HttpResponse::NoContent().finish())
        }
    }
}
