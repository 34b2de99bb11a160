//! Downloads over plain HTTP: the download socket's claims, in three requests, so that a
//! browser can stream the ciphertext with one `fetch` (which carries more than a socket
//! into a page) and any server process can serve any request.
//!
//! - `POST /api/shares/{id}/claims` takes the socket's `start` and answers its `ready`.
//! - `GET /api/shares/{id}/chunks?from=N` with the claim token streams the sealed chunks
//!   from `N` up to, not including, the final chunk; `from` = the final chunk's index
//!   streams the final chunk alone, which asking for is the client's acknowledgement of
//!   every chunk before it.
//! - `POST /api/shares/{id}/claims/done` with the claim token counts the download.
//!
//! The one-time rules are the socket's: the claim is held before a chunk past the first
//! window or the final chunk is sent, a held claim counts when its lease runs out, and a
//! download the server could not serve in full never counts. One difference: a request
//! cut before the claim was held does not release it; it stays its client's to resume
//! until its lease runs out, and then is free again, counting nothing.
use std::time::Instant;

use actix_web::{
    HttpRequest, HttpResponse,
    http::header,
    web::{self, Bytes},
};
use ferry_common::{
    keys::verifier,
    protocol::{DownloadEvent, ErrorCode},
};
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use crate::{
    AppState,
    download::{
        ChunkReader, Plan, Stopped, before_chunk, check_token, claim_for, count, downloadable,
        may_start, parse_start, read_chunk, ready,
    },
    http::{ApiError, bearer},
    ids,
    metrics::{InProgress, Transport},
    store::{Claim, ShareRow},
    ws::End,
};

/// `POST /api/shares/{id}/claims`: a `start` (fresh or resumed) in, its `ready` out.
pub async fn claim(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    json_body(&req)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| End::refuse(ErrorCode::BadRequest, "the body is not UTF-8"))?;
    let start = parse_start(text)?;
    if start.share_id != *id {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            "share_id in the body differs from the one in the path",
        )
        .into());
    }
    let client = crate::gate::client_address(&req, &state.config.trusted_proxies);
    may_start(&state, &start, client)?;
    let short = ids::short(&start.share_id).to_owned();
    let row = downloadable(&state, &start.share_id).await?;
    check_token(&state, &row, &start.token, &short, client).await?;
    let plan = Plan::of(&row)?;
    let resumed = start.resume.is_some();
    let (claim, claim_token, _) = claim_for(&state, &row, &plan, start.resume)
        .await
        .inspect_err(|end| tracing::info!(share = %short, code = ?end.code(), resumed, "download not claimed over http"))?;
    tracing::info!(share = %short, slot = claim.slot, bytes = row.ciphertext_size, resumed, "download claimed over http");
    Ok(no_store(HttpResponse::Ok()).json(ready(&row, &plan, claim_token)))
}

/// Refuses a body that does not say it is JSON: a cross-site form cannot send one without
/// a CORS preflight, which fails.
fn json_body(req: &HttpRequest) -> Result<(), ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next() == Some("application/json"));
    if json {
        return Ok(());
    }
    Err(End::refuse(ErrorCode::BadRequest, "the body must be application/json").into())
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// The claim token from `Authorization: Bearer <base64url>`.
fn claim_token(req: &HttpRequest) -> Result<Vec<u8>, ApiError> {
    bearer(
        req,
        "this needs the download's claim token (Authorization: Bearer <claim token>)",
    )
}

/// Takes the claim named by the request's claim token over for this request.
async fn take_claim(
    state: &AppState,
    req: &HttpRequest,
    id: &str,
) -> Result<(ShareRow, Plan, Claim), ApiError> {
    let token = claim_token(req)?;
    let row = downloadable(state, id).await?;
    let plan = Plan::of(&row)?;
    let claim = state
        .shares
        .resume(id, &verifier(&token), state.config.lease)
        .await?
        .ok_or_else(|| {
            End::refuse(
                ErrorCode::ClaimLost,
                "no live claim has this claim token (it was counted, or its lease ran out); start the download again",
            )
        })?;
    Ok((row, plan, claim))
}

/// The query of a chunk request.
#[derive(Deserialize)]
pub struct From {
    from: u64,
}

/// `GET /api/shares/{id}/chunks?from=N` with the claim token.
pub async fn chunks(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<From>,
) -> Result<HttpResponse, ApiError> {
    let (row, plan, claim) = take_claim(&state, &req, &id).await?;
    let from = query.from;
    if from >= plan.chunks {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            format!(
                "from={from} is not below the share's {} chunks",
                plan.chunks
            ),
        )
        .into());
    }
    // Everything before the final chunk, or the final chunk alone.
    let end = if from + 1 == plan.chunks {
        plan.chunks
    } else {
        plan.chunks - 1
    };
    let length = plan.layout.bytes_in(end) - plan.layout.bytes_in(from);
    tracing::info!(share = %ids::short(&row.id), from, end, "serving chunks over http");
    let reader = plan.reader(&state, &row, end);
    let serving = Serving {
        _in_progress: state.metrics.download(Transport::Http),
        state: state.into_inner(),
        row,
        plan,
        reader,
        claim,
        next: from,
        end,
        last_renew: Instant::now(),
    };
    Ok(no_store(HttpResponse::Ok())
        .content_type("application/octet-stream")
        // Ciphertext does not compress: without this the app's compression middleware
        // would brotli the stream for any browser that accepts it, at a cost of most of a
        // core on each side.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .no_chunking(length)
        .streaming(serve(serving)))
}

/// One chunk request being served.
struct Serving {
    /// On `ferry_downloads_in_progress` while the response streams.
    _in_progress: InProgress,
    state: std::sync::Arc<AppState>,
    row: ShareRow,
    plan: Plan,
    /// Reads the chunks in order, a segment's through one stream.
    reader: ChunkReader,
    claim: Claim,
    next: u64,
    end: u64,
    last_renew: Instant,
}

/// Why a chunk response ended early (its connection is then cut, so the client sees a
/// body shorter than its `Content-Length`).
#[derive(Debug, thiserror::Error)]
#[error("the download could not be served in full")]
struct Unserved;

/// The chunks of `serving`, read one at a time as the connection takes them, so a
/// response holds at most one chunk (and what its segment's stream has buffered) however
/// slowly its client reads.
fn serve(serving: Serving) -> impl Stream<Item = Result<Bytes, Unserved>> {
    stream::unfold(Some(serving), |serving| async move {
        let mut s = serving?;
        if s.next == s.end {
            return None;
        }
        match next_chunk(&mut s).await {
            Ok(bytes) => {
                s.state.metrics.sent(Transport::Http, bytes.len() as u64);
                s.next += 1;
                Some((Ok(bytes), Some(s)))
            }
            Err(stopped) => {
                unserved(&s, stopped).await;
                Some((Err(Unserved), None))
            }
        }
    })
}

/// Holds the claim if this chunk needs it, renews its lease when due, and reads the chunk.
async fn next_chunk(s: &mut Serving) -> Result<Bytes, Stopped> {
    before_chunk(&s.state, &s.plan, &mut s.claim, s.next, &mut s.last_renew).await?;
    read_chunk(&s.state, &s.row, &mut s.reader, s.next).await
}

/// A response that cannot go on: one the server could not serve in full never counts, so
/// its claim is released even if held. A claim lost to another request stays that one's.
async fn unserved(s: &Serving, stopped: Stopped) {
    let short = ids::short(&s.row.id);
    let end = match stopped {
        Stopped::ByServer(end) | Stopped::ByClient(end) => end,
    };
    if end.code() == Some(ErrorCode::Busy) {
        tracing::info!(share = %short, "chunk request stopped: its claim was taken over");
        return;
    }
    let released = s
        .state
        .shares
        .release_unserved(&s.claim)
        .await
        .unwrap_or(false);
    tracing::warn!(share = %short, code = ?end.code(), released, "download could not be served over http");
}

/// `POST /api/shares/{id}/claims/done` with the claim token: the client verified the
/// final chunk; the download counts.
pub async fn done(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (row, _, claim) = take_claim(&state, &req, &id).await?;
    if !claim.held {
        return Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "the final chunk was never requested under this claim",
        )
        .into());
    }
    let left = count(&state, &row, &claim, None).await?;
    Ok(no_store(HttpResponse::Ok()).json(DownloadEvent::Done {
        downloads_left: left,
    }))
}
