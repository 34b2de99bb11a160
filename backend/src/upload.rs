//! The upload socket (protocol 2): `start` (or `resume`) → `ready` → segments, each
//! acknowledged once stored → `finish` → `done`.
//!
//! An upload is a session in the database from its first message on: `start` writes its
//! row (with verifiers of a fresh upload token and owner token) before any byte is
//! stored; every segment is one object written once plus one row; `finish` commits with
//! one conditional transition. Nothing lives only in this socket, so a client whose
//! connection broke presents its upload token on a new socket, to any server process
//! sharing the database and the store, learns which segments are missing and sends only
//! those.
mod plan;
mod receive;
mod segment;

use std::{net::IpAddr, time::Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use ferry_common::{
    Header,
    keys::{random_token, verifier, verify_token},
    protocol::{ErrorCode, SegmentRange, UploadEvent, UploadRequest},
};

pub use plan::human_size;
use plan::{Plan, Shape};

use crate::{
    AppState, admission, ids,
    metrics::DbOp,
    space::Admission,
    store::{Committed, NewUpload},
    ws::{self, End, Incoming, Outbox, frames::Frames},
};

/// `GET /api/ws/upload`.
pub async fn upload_ws(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let (response, socket) = ws::upgrade(&req, body, &state).await?;
    let client = crate::gate::client_address(&req, &state.config.trusted_proxies);
    actix_web::rt::spawn(async move {
        ws::serve(socket, UploadEvent::Error, async |out, frames| {
            run(&state, client, out, frames).await
        })
        .await;
    });
    Ok(response)
}

/// An upload session this socket serves.
struct Session {
    id: String,
    shape: Shape,
    /// Ciphertext bytes of the segments still missing.
    missing_bytes: u64,
    ready: UploadEvent,
}

/// What the first message leads to.
enum Opened {
    /// Segments may flow.
    Receive(Session),
    /// The upload was committed before (a retried `finish` lost its answer).
    Committed { id: String, expires_at: i64 },
}

async fn run(
    state: &AppState,
    client: Option<IpAddr>,
    out: &mut Outbox,
    frames: &mut Frames,
) -> Result<(), End> {
    let opened = open(state, client, out, frames).await.inspect_err(|end| {
        if let Some(code) = end.code() {
            tracing::warn!(?code, "upload refused at its first message");
        }
    })?;
    let session = match opened {
        Opened::Receive(session) => session,
        Opened::Committed { id, expires_at } => {
            return ws::send_json(
                out,
                &UploadEvent::Done {
                    share_id: id,
                    expires_at,
                },
            )
            .await;
        }
    };
    let short = ids::short(&session.id).to_owned();
    let _space = admit(state, session.missing_bytes)?;
    let _in_progress = state.metrics.upload();
    ws::send_json(out, &session.ready).await?;
    let started = Instant::now();
    let received = receive::Receiver::new(state, &session.id, session.shape)
        .run(out, frames)
        .await;
    let result = match received {
        Ok(()) => commit(state, &session.id).await,
        Err(end) => Err(end),
    };
    match result {
        Ok(expires_at) => {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                share = %short,
                bytes = session.missing_bytes,
                secs,
                mb_per_s = session.missing_bytes as f64 / 1e6 / secs.max(1e-9),
                "upload committed"
            );
            let done = UploadEvent::Done {
                share_id: session.id.clone(),
                expires_at,
            };
            ws::send_json(out, &done).await
        }
        Err(end) => {
            // What was stored stays: the client may resume until the session is abandoned.
            match end.code() {
                Some(code) => tracing::warn!(share = %short, ?code, "upload socket failed"),
                None => tracing::info!(share = %short, "upload socket ended by the client"),
            }
            Err(end)
        }
    }
}

/// Reads the first message: a new session (`start`) or an existing one (`resume`).
async fn open(
    state: &AppState,
    client: Option<IpAddr>,
    out: &mut Outbox,
    frames: &mut Frames,
) -> Result<Opened, End> {
    let text = match ws::next_message(out, frames, state.config.idle_timeout).await? {
        Incoming::Text(text) => text,
        Incoming::Binary(_) => {
            return Err(End::refuse(
                ErrorCode::ProtocolViolation,
                "a chunk arrived before \"start\"",
            ));
        }
        Incoming::Closed => return Err(End::Gone),
    };
    let msg: UploadRequest = serde_json::from_str(&text).map_err(|e| {
        End::refuse(
            ErrorCode::BadRequest,
            format!("the first message is not a valid upload message: {e}"),
        )
    })?;
    match msg {
        UploadRequest::Resume {
            version,
            share_id,
            upload_token,
        } => {
            plan::check_version(version)?;
            resume(state, &share_id, &upload_token.0).await
        }
        msg => start(state, plan::parse_start(state, msg)?, client).await,
    }
}

/// Checks who may start it and whether it fits (rate, credential, disk, quotas), writes
/// a new session's row and says `ready` with its tokens.
async fn start(state: &AppState, plan: Plan, client: Option<IpAddr>) -> Result<Opened, End> {
    admission::rate(&state.rates.upload_starts, client, "new uploads")?;
    let quotas =
        admission::for_upload(state, plan.credential.as_deref(), plan.ciphertext_size).await?;
    // Refused for disk space before a row exists (the receiving socket admits again).
    drop(admit(state, plan.ciphertext_size)?);
    let token = |what| random_token().map_err(|e| End::internal(anyhow::anyhow!("{what}: {e}")));
    let upload_token = token("upload token")?;
    let owner_token = token("owner token")?;
    let id = ids::random_id()?;
    let now = state.shares.now_ms();
    let shape = plan.shape;
    let row = NewUpload {
        id: id.clone(),
        upload_verifier: verifier(&upload_token).to_vec(),
        owner_verifier: verifier(&owner_token).to_vec(),
        header: plan.header,
        metadata: plan.metadata,
        verifier: plan.verifier,
        ciphertext_size: plan.ciphertext_size,
        max_downloads: plan.max_downloads,
        expires_in_ms: (plan.expires_in_secs as i64).saturating_mul(1000),
        segment_chunks: shape.segment_chunks,
        segments: shape.segments,
        created_at: now,
        abandon_at: now + state.config.abandon_uploads_after.as_millis() as i64,
    };
    let begin = state.shares.begin_upload(&row, &quotas);
    state
        .metrics
        .db(DbOp::BeginUpload, begin)
        .await
        .map_err(|e| End::internal(e.context("writing the upload session")))?
        .map_err(|refused| admission::refusal(refused, plan.ciphertext_size))?;
    tracing::info!(
        share = %ids::short(&id),
        bytes = plan.ciphertext_size,
        segments = shape.segments,
        "upload started"
    );
    Ok(Opened::Receive(Session {
        ready: UploadEvent::Ready {
            share_id: id.clone(),
            window: shape.window,
            segment_chunks: shape.segment_chunks,
            segments: shape.segments,
            missing: vec![[0, shape.segments]],
            upload_token: Some(upload_token.to_vec().into()),
            owner_token: Some(owner_token.to_vec().into()),
        },
        id,
        shape,
        missing_bytes: plan.ciphertext_size,
    }))
}

/// Finds the session a `resume` names and says `ready` with its missing segments.
async fn resume(state: &AppState, id: &str, token: &[u8]) -> Result<Opened, End> {
    let unknown = || {
        End::refuse(
            ErrorCode::NotFound,
            "no unfinished upload with this ID: it was abandoned, or committed long ago",
        )
    };
    if !ids::is_share_id(id) {
        return Err(unknown());
    }
    let Some(session) = state.shares.upload_session(id).await? else {
        return Err(unknown());
    };
    if !verify_token(token, &session.upload_verifier) {
        return Err(End::refuse(
            ErrorCode::Unauthorized,
            "wrong upload token for this upload",
        ));
    }
    if let Some(expires_at) = session.committed {
        return Ok(Opened::Committed {
            id: session.id,
            expires_at,
        });
    }
    let shape = Header::parse(&session.header)
        .ok()
        .and_then(|h| Shape::new(&h, session.ciphertext_size, Some(session.segment_chunks)))
        .ok_or_else(|| End::internal(anyhow::anyhow!("a stored upload session is invalid")))?;
    let stored = state.shares.stored_segments(id).await?;
    let missing = missing_ranges(&stored, shape.segments);
    let missing_bytes = missing
        .iter()
        .flat_map(|[a, b]| *a..*b)
        .map(|k| shape.segment_bytes(k))
        .sum();
    tracing::info!(
        share = %ids::short(id),
        stored = stored.len(),
        segments = shape.segments,
        "upload resumed"
    );
    Ok(Opened::Receive(Session {
        ready: UploadEvent::Ready {
            share_id: session.id.clone(),
            window: shape.window,
            segment_chunks: shape.segment_chunks,
            segments: shape.segments,
            missing,
            upload_token: None,
            owner_token: None,
        },
        id: session.id,
        shape,
        missing_bytes,
    }))
}

/// The ranges of `0..segments` not in `stored` (ascending).
fn missing_ranges(stored: &[u64], segments: u64) -> Vec<SegmentRange> {
    let mut missing = Vec::new();
    let mut next = 0;
    for &k in stored.iter().filter(|&&k| k < segments) {
        if k > next {
            missing.push([next, k]);
        }
        next = next.max(k + 1);
    }
    if next < segments {
        missing.push([next, segments]);
    }
    missing
}

/// Promises the upload its bytes of disk space, or refuses it before any byte is sent.
fn admit(state: &AppState, bytes: u64) -> Result<Admission, End> {
    let admitted = state
        .space
        .admit(bytes)
        .map_err(|e| End::internal(anyhow::Error::new(e).context("reading free disk space")))?;
    admitted.map_err(|no_space| {
        tracing::warn!(%no_space, "upload refused: disk full");
        End::refuse(
            ErrorCode::InsufficientStorage,
            format!(
                "the server has no room for {} right now; please try again later",
                human_size(bytes)
            ),
        )
    })
}

/// Commits the session: one conditional transition, which a retry reports again.
async fn commit(state: &AppState, id: &str) -> Result<i64, End> {
    let commit = (state.shares).commit_upload(id, state.config.max_attempts, state.shares.now_ms());
    let committed = state
        .metrics
        .db(DbOp::CommitUpload, commit)
        .await
        .map_err(|e| End::internal(e.context("committing the upload")))?;
    match committed {
        Committed::Now(expires_at) => {
            state.metrics.committed();
            Ok(expires_at)
        }
        Committed::Before(expires_at) => Ok(expires_at),
        Committed::Incomplete => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "\"finish\" before every segment was stored",
        )),
        Committed::NoSession => Err(End::refuse(
            ErrorCode::NotFound,
            "this upload no longer exists (it was abandoned); start it again",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::missing_ranges;

    #[test]
    fn missing_ranges_are_the_gaps() {
        assert_eq!(missing_ranges(&[], 3), vec![[0, 3]]);
        assert_eq!(missing_ranges(&[0, 1, 2], 3), Vec::<[u64; 2]>::new());
        assert_eq!(missing_ranges(&[1, 4], 6), vec![[0, 1], [2, 4], [5, 6]]);
        assert_eq!(missing_ranges(&[0, 2], 3), vec![[1, 2]]);
    }
}
