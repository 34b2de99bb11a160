//! The download socket: `start{share_id, token}` → claim → `ready` → chunks (flow
//! control from the client's acks) → the download counts → `done`.
//!
//! A claim is a database lease on one of the share's remaining downloads; it is renewed
//! while chunks flow and marked delivered just before the last chunk goes out, after
//! which it can never be handed to anyone else. The download is counted when the
//! client acknowledges the last chunk, or when the socket closes after it was sent. A
//! download that ends before its last chunk went out (cancelled, cut off, refused as
//! tampered by the client) gives its slot back at once; the lease only covers a server
//! that died mid-download.
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use ferry_common::{
    keys::verify_token,
    protocol::{DownloadEvent, DownloadRequest, ErrorBody, ErrorCode, PROTOCOL_VERSION},
};

use crate::{
    AppState, ids,
    lifecycle::remove_share,
    store::{Claim, ClaimRefused, GoneReason, Lookup, ShareRow, now_ms},
    ws::{self, End, Incoming, Outbox, frames::Frames},
};

/// Sentence for a wrong download token (the same for a wrong passphrase and a wrong
/// link: the server cannot tell them apart).
pub const WRONG_TOKEN_MESSAGE: &str = "wrong passphrase or link";

/// `GET /api/ws/download`.
pub async fn download_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, socket) = ws::upgrade(&req, body, &state).await?;
    actix_web::rt::spawn(async move {
        ws::serve(socket, DownloadEvent::Error, async |out, frames| {
            run(&state, out, frames).await
        })
        .await;
    });
    Ok(response)
}

/// The refusal for a share that is not (or no longer) downloadable.
pub fn gone_refusal(reason: GoneReason) -> End {
    match reason {
        GoneReason::UsedUp => End::refuse(
            ErrorCode::UsedUp,
            "this link has already been used the number of times it allows",
        ),
        GoneReason::Expired => End::refuse(ErrorCode::Expired, "this link has expired"),
        GoneReason::Deleted => {
            End::refuse(ErrorCode::NotFound, "this share was deleted by its sender")
        }
        GoneReason::Locked => End::refuse(
            ErrorCode::NotFound,
            "this share was deleted after too many wrong passphrases",
        ),
    }
}

fn not_found() -> End {
    End::refuse(ErrorCode::NotFound, "no such share; check the link")
}

/// Looks up a downloadable share, or the refusal for it.
async fn downloadable(state: &AppState, id: &str) -> Result<ShareRow, End> {
    if !ids::is_share_id(id) {
        return Err(not_found());
    }
    match state.shares.lookup(id).await? {
        Lookup::NotFound => Err(not_found()),
        Lookup::Gone(t) => Err(gone_refusal(t.reason)),
        Lookup::Live(row) if row.expires_at <= now_ms() => Err(gone_refusal(GoneReason::Expired)),
        Lookup::Live(row) if row.downloads_left == 0 => Err(gone_refusal(GoneReason::UsedUp)),
        Lookup::Live(row) => Ok(row),
    }
}

async fn run(state: &AppState, session: &mut Outbox, stream: &mut Frames) -> Result<(), End> {
    let idle = state.config.idle_timeout;
    let (share_id, token) = match ws::next_message(session, stream, idle).await? {
        Incoming::Closed => return Err(End::Gone),
        Incoming::Binary(_) => {
            return Err(End::refuse(
                ErrorCode::ProtocolViolation,
                "binary data before \"start\"",
            ));
        }
        Incoming::Text(text) => match serde_json::from_str::<DownloadRequest>(&text) {
            Err(e) => {
                return Err(End::refuse(
                    ErrorCode::BadRequest,
                    format!("malformed message: {e}"),
                ));
            }
            Ok(DownloadRequest::Start {
                version,
                share_id,
                token,
            }) => {
                if version != PROTOCOL_VERSION {
                    return Err(End::refuse(
                        ErrorCode::UnsupportedVersion,
                        format!(
                            "this server speaks protocol version {PROTOCOL_VERSION}, not {version}"
                        ),
                    ));
                }
                (share_id, token.0)
            }
            Ok(_) => {
                return Err(End::refuse(
                    ErrorCode::ProtocolViolation,
                    "the first message must be \"start\"",
                ));
            }
        },
    };
    let short = ids::short(&share_id).to_owned();
    let row = downloadable(state, &share_id).await.inspect_err(|end| {
        tracing::info!(share = %short, code = ?end.code(), "download refused");
    })?;
    if !verify_token(&token, &row.verifier) {
        let left = state.shares.record_wrong_attempt(&share_id).await?;
        tracing::warn!(share = %short, attempts_left = ?left, "wrong download token");
        let Some(left) = left else {
            return Err(not_found());
        };
        if left == 0 {
            remove_share(state, &share_id, GoneReason::Locked).await?;
        }
        return Err(End::Refuse {
            body: ErrorBody {
                code: ErrorCode::WrongToken,
                message: WRONG_TOKEN_MESSAGE.into(),
                attempts_left: Some(left),
            },
            close: actix_ws::CloseCode::Policy,
        });
    }
    let claim = match state.shares.claim(&share_id, state.config.lease).await? {
        Ok(claim) => claim,
        Err(refused) => {
            tracing::info!(share = %short, ?refused, "download not claimed");
            return Err(match refused {
                ClaimRefused::Busy => End::refuse(
                    ErrorCode::Busy,
                    "every remaining download of this share is in progress right now; try again in a minute",
                ),
                ClaimRefused::UsedUp => gone_refusal(GoneReason::UsedUp),
                ClaimRefused::Gone if row.expires_at <= now_ms() => {
                    gone_refusal(GoneReason::Expired)
                }
                ClaimRefused::Gone => not_found(),
            });
        }
    };
    tracing::info!(share = %short, slot = claim.slot, bytes = row.ciphertext_size, "download claimed");
    let started = Instant::now();
    let result = stream_chunks(state, session, stream, &row, &claim).await;
    match result {
        Ok(Delivery::Complete) | Ok(Delivery::ClosedAfterLast) => {
            let left = match state.shares.consume(&claim).await? {
                Some(left) => left,
                None => {
                    tracing::error!(share = %short, "delivered claim vanished before it counted");
                    0
                }
            };
            if left == 0 {
                remove_share(state, &share_id, GoneReason::UsedUp).await?;
            }
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                share = %short,
                bytes = row.ciphertext_size,
                secs,
                mb_per_s = row.ciphertext_size as f64 / 1e6 / secs.max(1e-9),
                downloads_left = left,
                "download counted"
            );
            if matches!(result, Ok(Delivery::Complete)) {
                ws::send_json(
                    session,
                    &DownloadEvent::Done {
                        downloads_left: left,
                    },
                )
                .await?;
                Ok(())
            } else {
                Err(End::Gone)
            }
        }
        Err(end) => {
            // Not delivered: nobody has the last chunk, so the slot is free again.
            let released = state.shares.release(&claim).await.unwrap_or(false);
            match end.code() {
                Some(code) => tracing::warn!(share = %short, ?code, released, "download failed"),
                None => tracing::info!(share = %short, released, "download cut off"),
            }
            Err(end)
        }
    }
}

enum Delivery {
    /// The client acknowledged the last chunk.
    Complete,
    /// The socket closed after the last chunk was sent.
    ClosedAfterLast,
}

async fn stream_chunks(
    state: &AppState,
    session: &mut Outbox,
    stream: &mut Frames,
    row: &ShareRow,
    claim: &Claim,
) -> Result<Delivery, End> {
    let cfg = &state.config;
    // unwrap-free: the header was validated at upload time; re-parse to be safe.
    let header = ferry_common::Header::parse(&row.header)
        .map_err(|e| End::internal(anyhow::anyhow!("stored header invalid: {e}")))?;
    let sealed_len = u64::from(header.chunk_size) + ferry_common::TAG_LEN as u64;
    let total = row.ciphertext_size;
    let chunks = header.chunk_count(
        header
            .plaintext_len(total)
            .ok_or_else(|| End::internal(anyhow::anyhow!("stored size invalid")))?,
    );
    let window = ws::window_for(sealed_len);
    ws::send_json(
        session,
        &DownloadEvent::Ready {
            metadata: row.metadata.clone().into(),
            ciphertext_size: total,
            chunks,
            window,
        },
    )
    .await?;
    let renew_every = cfg.lease / 3;
    let mut last_renew = Instant::now();
    let mut sent: u64 = 0;
    let mut acked: u64 = 0;
    loop {
        while sent < chunks && sent - acked < u64::from(window) {
            if sent + 1 == chunks {
                if !state.shares.mark_delivered(claim).await? {
                    return Err(lost_claim());
                }
            } else if last_renew.elapsed() >= renew_every {
                if !state.shares.renew(claim, cfg.lease).await? {
                    return Err(lost_claim());
                }
                last_renew = Instant::now();
            }
            let bytes = match read_chunk(state, row, sent, sealed_len).await {
                Ok(bytes) => bytes,
                Err(err) => return Err(read_failed(state, &row.id, err).await),
            };
            if let Err(end) = session.binary(bytes).await {
                return if sent + 1 == chunks {
                    Ok(Delivery::ClosedAfterLast)
                } else {
                    Err(end)
                };
            }
            sent += 1;
        }
        let msg = match ws::next_message(session, stream, cfg.idle_timeout).await {
            Ok(msg) => msg,
            Err(end) if sent == chunks => {
                tracing::debug!(code = ?end.code(), "socket ended after the last chunk");
                return Ok(Delivery::ClosedAfterLast);
            }
            Err(end) => return Err(end),
        };
        match msg {
            Incoming::Closed if sent == chunks => return Ok(Delivery::ClosedAfterLast),
            Incoming::Closed => return Err(End::Gone),
            Incoming::Binary(_) if sent == chunks => return Ok(Delivery::ClosedAfterLast),
            Incoming::Binary(_) => {
                return Err(End::refuse(
                    ErrorCode::ProtocolViolation,
                    "binary data on the download socket",
                ));
            }
            Incoming::Text(text) => match serde_json::from_str::<DownloadRequest>(&text) {
                Ok(DownloadRequest::Ack { chunks: n }) => {
                    if n < acked || n > sent {
                        let end = End::refuse(
                            ErrorCode::ProtocolViolation,
                            format!("ack of {n} chunks, but {sent} were sent and {acked} acked"),
                        );
                        return if sent == chunks {
                            Ok(Delivery::ClosedAfterLast)
                        } else {
                            Err(end)
                        };
                    }
                    acked = n;
                    if acked == chunks {
                        return Ok(Delivery::Complete);
                    }
                }
                Ok(_) | Err(_) if sent == chunks => return Ok(Delivery::ClosedAfterLast),
                Ok(DownloadRequest::Start { .. }) => {
                    return Err(End::refuse(
                        ErrorCode::ProtocolViolation,
                        "\"start\" was already sent",
                    ));
                }
                Ok(DownloadRequest::Unknown) => {
                    return Err(End::refuse(
                        ErrorCode::ProtocolViolation,
                        "unknown message type on the download socket",
                    ));
                }
                Err(e) => {
                    return Err(End::refuse(
                        ErrorCode::BadRequest,
                        format!("malformed message: {e}"),
                    ));
                }
            },
        }
    }
}

/// Reads chunk `index` from wherever the share keeps it: its segment, or (shares stored
/// before segments) its single blob.
async fn read_chunk(
    state: &AppState,
    row: &ShareRow,
    index: u64,
    sealed_len: u64,
) -> anyhow::Result<bytes::Bytes> {
    let start = index * sealed_len;
    let end = (start + sealed_len).min(row.ciphertext_size);
    if row.segment_chunks == 0 {
        return state.blobs.read(&row.id, start..end).await;
    }
    let segment = index / row.segment_chunks;
    let offset = (index % row.segment_chunks) * sealed_len;
    let range = offset..offset + (end - start);
    state.blobs.read_segment(&row.id, segment, range).await
}

/// A chunk could not be read: the share was removed meanwhile (expired and swept, or
/// deleted by its owner), or storage failed.
async fn read_failed(state: &AppState, id: &str, err: anyhow::Error) -> End {
    match state.shares.lookup(id).await {
        Ok(Lookup::Gone(t)) => gone_refusal(t.reason),
        Ok(Lookup::NotFound) => not_found(),
        Ok(Lookup::Live(row)) if row.expires_at <= now_ms() => gone_refusal(GoneReason::Expired),
        _ => End::internal(err.context("reading a chunk")),
    }
}

fn lost_claim() -> End {
    End::refuse(
        ErrorCode::Busy,
        "this download stalled longer than its lease and was handed to someone else; try again",
    )
}
