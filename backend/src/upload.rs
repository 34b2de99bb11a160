//! The upload socket: `start` → `ready` → chunks (acked as stored) → `finish` → `done`.
//!
//! Chunks are written to the blob store as they arrive, at most one write in flight (it
//! takes every chunk buffered meanwhile) and at most `window` chunks buffered, so memory per upload is bounded by the window
//! whatever the file size. Nothing is opened on disk before the first chunk arrives (a
//! client that sends `start` and nothing else holds no file). The blob is completed
//! (durable) before the share's row is inserted; anything that ends the socket earlier
//! aborts the multipart upload, so no row and no blob remain.
use std::{collections::VecDeque, time::Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use ferry_common::{
    Header, KdfParams,
    keys::{random_token, verifier},
    protocol::{ErrorCode, PROTOCOL_VERSION, UploadEvent, UploadRequest},
};
use object_store::{MultipartUpload, PutPayload, UploadPart};

use crate::{
    AppState,
    config::{MAX_METADATA_LEN, SERVER_MAX_CHUNK_SIZE},
    ids,
    space::Admission,
    store::{NewShare, now_ms},
    ws::{self, End, Incoming, Outbox, frames::Frames},
};

/// `GET /api/ws/upload`.
pub async fn upload_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, socket) = ws::upgrade(&req, body, &state).await?;
    actix_web::rt::spawn(async move {
        ws::serve(socket, UploadEvent::Error, async |out, frames| {
            run(&state, out, frames).await
        })
        .await;
    });
    Ok(response)
}

/// What a valid `start` message describes.
struct Plan {
    id: String,
    header: Vec<u8>,
    metadata: Vec<u8>,
    verifier: Vec<u8>,
    ciphertext_size: u64,
    chunks: u64,
    sealed_len: u64,
    last_len: u64,
    window: u32,
    max_downloads: u32,
    expires_at: i64,
}

impl Plan {
    /// The exact size of chunk `index` (0-based).
    fn chunk_len(&self, index: u64) -> u64 {
        if index + 1 == self.chunks {
            self.last_len
        } else {
            self.sealed_len
        }
    }
}

fn parse_start(state: &AppState, text: &str) -> Result<Plan, End> {
    let msg: UploadRequest = serde_json::from_str(text).map_err(|e| {
        End::refuse(
            ErrorCode::BadRequest,
            format!("the first message is not a valid upload message: {e}"),
        )
    })?;
    let UploadRequest::Start {
        version,
        header,
        metadata,
        verifier,
        expires_in_secs,
        max_downloads,
        ciphertext_size,
    } = msg
    else {
        return Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "the first message must be \"start\"",
        ));
    };
    let cfg = &state.config;
    if version != PROTOCOL_VERSION {
        return Err(End::refuse(
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol version {PROTOCOL_VERSION}, not {version}"),
        ));
    }
    let parsed = Header::parse(&header.0).map_err(|e| match e {
        ferry_common::Error::UnsupportedVersion(v) => End::refuse(
            ErrorCode::UnsupportedVersion,
            format!("this server does not know format version {v}"),
        ),
        ferry_common::Error::WeakKdf(below) => End::refuse(
            ErrorCode::BadRequest,
            format!(
                "the header's key-derivation {below} is below Ferry's minimum (Argon2id with \
                 at least {} KiB and {} iterations, docs/FORMAT.md), which would make the \
                 passphrase cheap to guess",
                KdfParams::MIN_M_COST,
                KdfParams::MIN_T_COST
            ),
        ),
        other => End::refuse(
            ErrorCode::BadRequest,
            format!("the header is not a valid Ferry header: {other}"),
        ),
    })?;
    if parsed.chunk_size > SERVER_MAX_CHUNK_SIZE {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            format!(
                "chunks of {} bytes are larger than this server's maximum of {SERVER_MAX_CHUNK_SIZE}",
                parsed.chunk_size
            ),
        ));
    }
    if verifier.0.len() != 32 {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "the download-token verifier must be 32 bytes",
        ));
    }
    if metadata.0.is_empty() || metadata.0.len() > MAX_METADATA_LEN {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            format!("the sealed metadata must be 1 to {MAX_METADATA_LEN} bytes"),
        ));
    }
    let Some(plaintext_len) = parsed.plaintext_len(ciphertext_size) else {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "ciphertext_size is not a possible size for this header's chunk size",
        ));
    };
    if plaintext_len > cfg.max_file_size {
        return Err(End::refuse(
            ErrorCode::TooLarge,
            format!(
                "the file is {}; this server accepts files up to {}",
                human_size(plaintext_len),
                human_size(cfg.max_file_size)
            ),
        ));
    }
    if expires_in_secs == 0 {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "the expiry must be at least one second",
        ));
    }
    if expires_in_secs > cfg.max_expiry_secs {
        return Err(End::refuse(
            ErrorCode::ExpiryTooLong,
            format!(
                "this server keeps files for at most {} seconds",
                cfg.max_expiry_secs
            ),
        ));
    }
    if max_downloads == 0 {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "the download limit must be at least 1",
        ));
    }
    if max_downloads > cfg.max_downloads {
        return Err(End::refuse(
            ErrorCode::TooManyDownloads,
            format!(
                "this server allows at most {} downloads per share",
                cfg.max_downloads
            ),
        ));
    }
    let chunks = parsed.chunk_count(plaintext_len);
    let sealed_len = u64::from(parsed.chunk_size) + ferry_common::TAG_LEN as u64;
    Ok(Plan {
        id: ids::random_id()?,
        header: header.0,
        metadata: metadata.0,
        verifier: verifier.0,
        ciphertext_size,
        chunks,
        sealed_len,
        last_len: ciphertext_size - (chunks - 1) * sealed_len,
        window: ws::window_for(sealed_len),
        max_downloads,
        expires_at: now_ms().saturating_add((expires_in_secs as i64).saturating_mul(1000)),
    })
}

/// Human-readable byte count for messages.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

async fn run(state: &AppState, session: &mut Outbox, stream: &mut Frames) -> Result<(), End> {
    let idle = state.config.idle_timeout;
    let plan = match ws::next_message(session, stream, idle).await? {
        Incoming::Text(text) => parse_start(state, &text),
        Incoming::Binary(_) => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "a chunk arrived before \"start\"",
        )),
        Incoming::Closed => Err(End::Gone),
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(end) => {
            if let Some(code) = end.code() {
                tracing::warn!(?code, "upload refused at start");
            }
            return Err(end);
        }
    };
    let short = ids::short(&plan.id).to_owned();
    let _space = admit(state, &plan)?;
    tracing::info!(
        share = %short,
        bytes = plan.ciphertext_size,
        chunks = plan.chunks,
        "upload started"
    );
    let started = Instant::now();
    let mut upload = None;
    let result = receive(state, session, stream, &plan, &mut upload).await;
    let result = match result {
        Ok(()) => commit(state, &plan, &mut upload).await,
        Err(end) => Err(end),
    };
    match result {
        Ok(owner_token) => {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                share = %short,
                bytes = plan.ciphertext_size,
                secs,
                mb_per_s = plan.ciphertext_size as f64 / 1e6 / secs.max(1e-9),
                "upload committed"
            );
            ws::send_json(
                session,
                &UploadEvent::Done {
                    share_id: plan.id.clone(),
                    owner_token: owner_token.to_vec().into(),
                    expires_at: plan.expires_at,
                },
            )
            .await?;
            Ok(())
        }
        Err(end) => {
            // Nothing is downloadable: remove the partial blob now (dropping the upload
            // would too, in the background).
            if let Some(mut upload) = upload {
                let _ = upload.abort().await;
            }
            match end.code() {
                Some(code) => tracing::warn!(share = %short, ?code, "upload failed"),
                None => tracing::info!(share = %short, "upload abandoned by the client"),
            }
            Err(end)
        }
    }
}

/// Promises the upload its bytes of disk space, or refuses it before any byte is sent.
fn admit(state: &AppState, plan: &Plan) -> Result<Admission, End> {
    let admitted = state
        .space
        .admit(plan.ciphertext_size)
        .map_err(|e| End::internal(anyhow::Error::new(e).context("reading free disk space")))?;
    admitted.map_err(|no_space| {
        tracing::warn!(share = %ids::short(&plan.id), %no_space, "upload refused: disk full");
        End::refuse(
            ErrorCode::InsufficientStorage,
            format!(
                "the server has no room for {} right now; nothing was kept, please try again later",
                human_size(plan.ciphertext_size)
            ),
        )
    })
}

/// Receives and stores every chunk, then waits for `finish`.
async fn receive(
    state: &AppState,
    session: &mut Outbox,
    stream: &mut Frames,
    plan: &Plan,
    upload: &mut Option<Box<dyn MultipartUpload>>,
) -> Result<(), End> {
    let idle = state.config.idle_timeout;
    ws::send_json(
        session,
        &UploadEvent::Ready {
            share_id: plan.id.clone(),
            window: plan.window,
        },
    )
    .await?;
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut in_flight: Option<(UploadPart, u64, u64)> = None;
    let mut received: u64 = 0;
    let mut stored: u64 = 0;
    let mut stored_bytes: u64 = 0;
    let mut finish_requested = false;
    loop {
        if in_flight.is_none() && !pending.is_empty() {
            // Everything buffered goes out as one write (one part): fewer blocking-pool
            // round trips when the client is faster than the disk.
            let count = pending.len() as u64;
            let len: u64 = pending.iter().map(|c| c.len() as u64).sum();
            let payload: PutPayload = pending.drain(..).collect();
            let upload = opened(state, plan, upload).await?;
            in_flight = Some((upload.put_part(payload), count, len));
        }
        if finish_requested && in_flight.is_none() {
            return Ok(());
        }
        tokio::select! {
            done = async { (&mut in_flight.as_mut().expect("guarded by is_some").0).await },
                if in_flight.is_some() =>
            {
                done.map_err(|e| End::internal(anyhow::Error::new(e).context("writing a chunk")))?;
                // unwrap: this branch only runs while a write is in flight.
                let (_, count, len) = in_flight.take().expect("in flight");
                stored += count;
                stored_bytes += len;
                ws::send_json(session, &UploadEvent::Ack { chunks: stored, bytes: stored_bytes }).await?;
            }
            msg = ws::next_message(session, stream, idle), if !finish_requested => {
                match msg? {
                    Incoming::Closed => return Err(End::Gone),
                    Incoming::Binary(chunk) => {
                        if received == plan.chunks {
                            return Err(End::refuse(
                                ErrorCode::ProtocolViolation,
                                format!("more chunks than the {} declared", plan.chunks),
                            ));
                        }
                        let expected = plan.chunk_len(received);
                        let len = chunk.len() as u64;
                        if len > plan.sealed_len {
                            return Err(End::refuse(
                                ErrorCode::FrameTooLarge,
                                format!("chunk {received} has {len} bytes; a sealed chunk has at most {}", plan.sealed_len),
                            ));
                        }
                        if len != expected {
                            return Err(End::refuse(
                                ErrorCode::ProtocolViolation,
                                format!("chunk {received} has {len} bytes; expected exactly {expected}"),
                            ));
                        }
                        received += 1;
                        if received - stored > u64::from(plan.window) {
                            return Err(End::refuse(
                                ErrorCode::ProtocolViolation,
                                format!("more than {} unacknowledged chunks (the window)", plan.window),
                            ));
                        }
                        pending.push_back(chunk);
                    }
                    Incoming::Text(text) => match serde_json::from_str::<UploadRequest>(&text) {
                        Err(e) => {
                            return Err(End::refuse(ErrorCode::BadRequest, format!("malformed message: {e}")));
                        }
                        Ok(UploadRequest::Finish) => {
                            if received != plan.chunks {
                                return Err(End::refuse(
                                    ErrorCode::ProtocolViolation,
                                    format!("\"finish\" after {received} of {} chunks", plan.chunks),
                                ));
                            }
                            finish_requested = true;
                        }
                        Ok(UploadRequest::Start { .. }) => {
                            return Err(End::refuse(ErrorCode::ProtocolViolation, "\"start\" was already sent"));
                        }
                        Ok(UploadRequest::Unknown) => {
                            return Err(End::refuse(ErrorCode::ProtocolViolation, "unknown message type on the upload socket"));
                        }
                    },
                }
            }
        }
    }
}

/// The share's blob upload, opened (its staging file created) on first use.
async fn opened<'a>(
    state: &AppState,
    plan: &Plan,
    upload: &'a mut Option<Box<dyn MultipartUpload>>,
) -> Result<&'a mut Box<dyn MultipartUpload>, End> {
    match upload {
        Some(upload) => Ok(upload),
        None => Ok(upload.insert(state.blobs.begin(&plan.id).await?)),
    }
}

/// Makes the blob durable, then inserts the row. Returns the owner token.
async fn commit(
    state: &AppState,
    plan: &Plan,
    upload: &mut Option<Box<dyn MultipartUpload>>,
) -> Result<[u8; 32], End> {
    opened(state, plan, upload)
        .await?
        .complete()
        .await
        .map_err(|e| End::internal(anyhow::Error::new(e).context("completing the blob")))?;
    let owner_token = random_token().map_err(|e| End::internal(anyhow::anyhow!("{e}")))?;
    let share = NewShare {
        id: plan.id.clone(),
        header: plan.header.clone(),
        metadata: plan.metadata.clone(),
        verifier: plan.verifier.clone(),
        owner_verifier: verifier(&owner_token).to_vec(),
        ciphertext_size: plan.ciphertext_size,
        max_downloads: plan.max_downloads,
        attempts: state.config.max_attempts,
        created_at: now_ms(),
        expires_at: plan.expires_at,
    };
    if let Err(err) = state.shares.insert(&share).await {
        let _ = state.blobs.delete(&plan.id).await;
        return Err(End::internal(err.context("inserting the share")));
    }
    Ok(owner_token)
}
