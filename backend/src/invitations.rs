//! Invitations over HTTP: a token holder asks for one (`POST /api/invitations` with
//! `Authorization: Bearer ft1.…`), and the page an invitation link opens asks what it
//! allows (`POST /api/invitations/check`, the invitation in the body so that it stays out
//! of URLs and logs).
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use ferry_common::protocol::{ErrorCode, Invitation, InvitationCheck, InvitationRequest};

use crate::{
    AppState, admission,
    credentials::{Credential, Kind},
    http::ApiError,
    store::InvitationRow,
    ws::End,
};

const TOKEN_MISSING: &str = "this needs an upload token (Authorization: Bearer ft1.…)";

/// `POST /api/invitations`: a new invitation for the bearer's upload token, shown once.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let token = bearer_token(&req, &state).await?;
    let wanted: InvitationRequest = json(&body)?;
    let largest = state
        .config
        .max_file_size
        .saturating_add(state.config.max_file_size / 64);
    if wanted.max_bytes == 0 || wanted.max_bytes > largest {
        return Err(End::refuse(
            ErrorCode::TooLarge,
            format!("an invitation allows 1 to {largest} bytes on this server"),
        )
        .into());
    }
    if wanted.expires_in_secs == 0 || wanted.expires_in_secs > state.config.max_expiry_secs {
        return Err(End::refuse(
            ErrorCode::ExpiryTooLong,
            format!(
                "an invitation lasts at most {} seconds on this server",
                state.config.max_expiry_secs
            ),
        )
        .into());
    }
    let credential = Credential::generate(Kind::Invitation)?;
    let now = state.shares.now_ms();
    let row = InvitationRow {
        id: credential.id.clone(),
        token_id: Some(token),
        verifier: credential.verifier().to_vec(),
        max_bytes: wanted.max_bytes,
        created_at: now,
        expires_at: now.saturating_add((wanted.expires_in_secs as i64).saturating_mul(1000)),
        used: false,
        revoked_at: None,
    };
    state.shares.insert_invitation(&row).await?;
    tracing::info!(max_bytes = row.max_bytes, "invitation created");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Invitation {
            invitation: Some(credential.reveal()),
            max_bytes: row.max_bytes,
            expires_at: row.expires_at,
        }))
}

/// `POST /api/invitations/check`: what a usable invitation allows, or why it is not.
pub async fn check(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let body: InvitationCheck = json(&body)?;
    let credential = Credential::parse(&body.invitation)
        .map_err(|_| End::refuse(ErrorCode::CredentialRefused, "this is not an invitation"))?;
    let inv = admission::usable_invitation(&state, &credential).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Invitation {
            invitation: None,
            max_bytes: inv.max_bytes,
            expires_at: inv.expires_at,
        }))
}

/// A JSON body, or the API's own refusal (never actix's plain-text one).
fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| End::refuse(ErrorCode::BadRequest, format!("malformed body: {e}")).into())
}

/// The handle of the valid, unrevoked upload token in `Authorization: Bearer`.
async fn bearer_token(req: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::from(End::refuse(ErrorCode::CredentialRequired, TOKEN_MISSING)))?;
    let credential = Credential::parse(presented)
        .ok()
        .filter(|c| c.kind == Kind::Token)
        .ok_or_else(|| {
            ApiError::from(End::refuse(
                ErrorCode::CredentialRefused,
                "this is not an upload token",
            ))
        })?;
    match state.shares.token(&credential.id).await? {
        Some(t) if credential.matches(&t.verifier) && t.revoked_at.is_none() => Ok(t.id),
        Some(t) if credential.matches(&t.verifier) => Err(End::refuse(
            ErrorCode::CredentialRefused,
            "this upload token was revoked",
        )
        .into()),
        _ => Err(End::refuse(
            ErrorCode::CredentialRefused,
            "this upload token is not valid",
        )
        .into()),
    }
}
