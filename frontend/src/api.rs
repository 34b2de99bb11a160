//! The server's small HTTP API (limits, share info, owner status and delete,
//! invitations).
use ferry_common::protocol::{
    ErrorBody, ErrorCode, INVITATIONS_PATH, Invitation, InvitationCheck, InvitationRequest,
    LIMITS_PATH, Limits, SHARES_PATH, ShareInfo, ShareStatus,
};
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

use crate::tr;

/// A failed request.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// The server answered with an error status (and usually an [`ErrorBody`]).
    Status {
        /// HTTP status.
        status: u16,
        /// The JSON error, if the body was one.
        body: Option<ErrorBody>,
    },
    /// No answer, or one that is not what Ferry's server sends.
    Network,
}

impl ApiError {
    /// The server's error code, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ApiError::Status { body: Some(b), .. } => Some(b.code),
            _ => None,
        }
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            ApiError::Status { body: Some(b), .. } => b.message.clone(),
            ApiError::Status { status, .. } => tr!("api-status", status = *status),
            ApiError::Network => tr!("api-network"),
        }
    }
}

/// `method url`, with `Authorization: Bearer` when given and a JSON `body` when given
/// (secrets such as credentials travel in headers and bodies, never in the URL).
async fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, String), ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(|_| ApiError::Network)?;
    let headers = request.headers();
    let _ = headers.set("Accept", "application/json");
    if body.is_some() {
        let _ = headers.set("Content-Type", "application/json");
    }
    if let Some(token) = bearer {
        let _ = headers.set("Authorization", &format!("Bearer {token}"));
    }
    let response: Response = JsFuture::from(leptos::prelude::window().fetch_with_request(&request))
        .await
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if response.ok() {
        Ok((response.status(), text))
    } else {
        Err(ApiError::Status {
            status: response.status(),
            body: serde_json::from_str(&text).ok(),
        })
    }
}

async fn get<T: DeserializeOwned>(url: &str, bearer: Option<&str>) -> Result<T, ApiError> {
    let (_, text) = call("GET", url, bearer, None).await?;
    serde_json::from_str(&text).map_err(|_| ApiError::Network)
}

async fn post<B: Serialize, T: DeserializeOwned>(
    url: &str,
    bearer: Option<&str>,
    body: &B,
) -> Result<T, ApiError> {
    // unwrap: the request types are plain structs that always serialise.
    let body = serde_json::to_string(body).expect("request serialises");
    let (_, text) = call("POST", url, bearer, Some(&body)).await?;
    serde_json::from_str(&text).map_err(|_| ApiError::Network)
}

/// `GET /api/limits`.
pub async fn limits() -> Result<Limits, ApiError> {
    get(LIMITS_PATH, None).await
}

/// `GET /api/shares/{id}`: public, consumes nothing.
pub async fn share_info(id: &str) -> Result<ShareInfo, ApiError> {
    get(&format!("{SHARES_PATH}/{id}"), None).await
}

/// `GET /api/shares/{id}/status` with the owner token.
pub async fn share_status(id: &str, owner_token: &str) -> Result<ShareStatus, ApiError> {
    get(&format!("{SHARES_PATH}/{id}/status"), Some(owner_token)).await
}

/// `DELETE /api/shares/{id}` with the owner token.
pub async fn delete_share(id: &str, owner_token: &str) -> Result<(), ApiError> {
    call(
        "DELETE",
        &format!("{SHARES_PATH}/{id}"),
        Some(owner_token),
        None,
    )
    .await
    .map(|_| ())
}

/// `POST /api/invitations` with the upload token: a new invitation (shown once).
pub async fn create_invitation(
    upload_token: &str,
    wanted: &InvitationRequest,
) -> Result<Invitation, ApiError> {
    post(INVITATIONS_PATH, Some(upload_token), wanted).await
}

/// `POST /api/invitations/check`: what an invitation allows, or the server's refusal
/// (`credential-refused` with its reason). The invitation travels in the body.
pub async fn check_invitation(invitation: &str) -> Result<Invitation, ApiError> {
    let body = InvitationCheck {
        invitation: invitation.to_owned(),
    };
    post(&format!("{INVITATIONS_PATH}/check"), None, &body).await
}
