//! Who may start what: the per-address rate limits and, for uploads, the credential and
//! the quotas. Everything here refuses at `start` (or the claim), before a byte of
//! ciphertext moves, with a code and a sentence the clients show as they are.
use std::{net::IpAddr, time::Instant};

use ferry_common::protocol::{ErrorCode, UploadAccess};

use crate::{
    AppState,
    credentials::{Credential, Kind},
    gate,
    rate::{Limited, Limiter},
    store::{Admission, AdmitRefused, InvitationRow},
    ws::End,
};

/// Counts one event from `client` against `limiter`; `what` names it in the refusal.
pub(crate) fn rate(limiter: &Limiter, client: Option<IpAddr>, what: &str) -> Result<(), End> {
    let Some(client) = client else { return Ok(()) };
    limiter
        .check(gate::client_key(client), Instant::now())
        .map_err(|limited| rate_refusal(limited, what))
}

/// Refuses a client that gave too many wrong passphrases lately, before its token is
/// even checked (so it cannot keep guessing).
pub(crate) fn not_guessing(state: &AppState, client: Option<IpAddr>) -> Result<(), End> {
    let Some(client) = client else { return Ok(()) };
    state
        .rates
        .wrong_passphrases
        .peek(gate::client_key(client), Instant::now())
        .map_err(|limited| rate_refusal(limited, "wrong passphrases"))
}

fn rate_refusal(limited: Limited, what: &str) -> End {
    let secs = limited.retry_after.as_secs().max(1);
    End::refuse(
        ErrorCode::RateLimited,
        format!("too many {what} from your address; try again in {secs} s"),
    )
}

/// The quotas an upload of `bytes` counts against, from its credential (checked here:
/// format, secret, revoked, expired, used) and the server's access rule.
pub(crate) async fn for_upload(
    state: &AppState,
    credential: Option<&str>,
    bytes: u64,
) -> Result<Admission, End> {
    let mut admission = Admission {
        server_quota: state.config.storage_quota,
        ..Admission::default()
    };
    let Some(text) = credential else {
        return match state.config.upload_access {
            UploadAccess::Open => Ok(admission),
            UploadAccess::Credential => Err(End::refuse(
                ErrorCode::CredentialRequired,
                "this server accepts uploads only with an upload token or an invitation",
            )),
        };
    };
    let refused = |why: &str| End::refuse(ErrorCode::CredentialRefused, why.to_owned());
    let credential = Credential::parse(text)
        .map_err(|_| refused("this is not an upload token or invitation"))?;
    match credential.kind {
        Kind::Token => {
            let token = state.shares.token(&credential.id).await?;
            match token {
                Some(t) if credential.matches(&t.verifier) && t.revoked_at.is_none() => {
                    admission.token_id = Some(t.id);
                }
                Some(t) if credential.matches(&t.verifier) => {
                    return Err(refused("this upload token was revoked"));
                }
                _ => return Err(refused("this upload token is not valid")),
            }
        }
        Kind::Invitation => {
            let inv = usable_invitation(state, &credential).await?;
            if bytes > inv.max_bytes {
                return Err(End::refuse(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "this invitation allows files of up to {} bytes of ciphertext; this one is {bytes}",
                        inv.max_bytes
                    ),
                ));
            }
            admission.invitation_id = Some(inv.id);
        }
    }
    Ok(admission)
}

/// `credential`'s invitation if it can still be used: issued here, not revoked, not
/// used, not expired.
pub(crate) async fn usable_invitation(
    state: &AppState,
    credential: &Credential,
) -> Result<InvitationRow, End> {
    let refused = |why: &str| End::refuse(ErrorCode::CredentialRefused, why.to_owned());
    let inv = state
        .shares
        .invitation(&credential.id)
        .await?
        .filter(|inv| credential.kind == Kind::Invitation && credential.matches(&inv.verifier))
        .ok_or_else(|| refused("this invitation is not valid"))?;
    if inv.revoked_at.is_some() {
        return Err(refused("this invitation was revoked"));
    }
    if inv.used {
        return Err(refused("this invitation was already used for a file"));
    }
    if inv.expires_at <= state.shares.now_ms() {
        return Err(refused("this invitation has expired"));
    }
    Ok(inv)
}

/// The refusal for a quota the upload's session could not be charged to.
pub(crate) fn refusal(refused: AdmitRefused, bytes: u64) -> End {
    match refused {
        AdmitRefused::ServerQuota { held, quota } => End::refuse(
            ErrorCode::InsufficientStorage,
            format!(
                "the server's storage quota is full: {held} of {quota} bytes are held, and this \
                 upload needs {bytes}; try later or a smaller file"
            ),
        ),
        AdmitRefused::TokenQuota { held, quota } => End::refuse(
            ErrorCode::QuotaExceeded,
            format!(
                "this upload token's quota is {quota} bytes, {held} are held by its shares, and \
                 this upload needs {bytes}; delete a share or ask for more"
            ),
        ),
        AdmitRefused::TokenRevoked => End::refuse(
            ErrorCode::CredentialRefused,
            "this upload token was revoked",
        ),
        AdmitRefused::InvitationUnusable => End::refuse(
            ErrorCode::CredentialRefused,
            "this invitation was used, revoked or has expired",
        ),
    }
}
