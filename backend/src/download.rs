//! The download socket: `start{share_id, token}` → claim → `ready{claim_token}` → chunks
//! (flow control from the client's acks) → the final chunk once every other one is
//! acknowledged → the client acknowledges it → the download counts → `done`.
//!
//! A claim is a database lease on one of the share's remaining downloads, named by a
//! random claim token of which the server keeps only the verifier. It is renewed while
//! the download is served. Once the server sends a chunk past the first window, or the
//! final chunk, the claim is *held*: it belongs to whoever has its token until the client
//! acknowledges the final chunk (the download counts) or its lease runs out (the download
//! counts too: the client may have read the file). A cut-off download resumes inside its
//! claim on any server process (`start` with the claim token and the first chunk still
//! wanted). A claim cut before it was held is released at once, and a download the
//! server could not serve in full (storage failed, the blob is shorter than recorded)
//! never counts. Nothing here depends on memory: every step is a conditional statement
//! in [`crate::store`].
mod segment_reader;

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use ferry_common::{
    b64::Bytes,
    client::Layout,
    keys::{random_token, verifier, verify_token},
    protocol::{DownloadEvent, DownloadRequest, ErrorBody, ErrorCode, PROTOCOL_VERSION},
};

pub(crate) use self::segment_reader::ChunkReader;
use self::segment_reader::ReadError;
use crate::{
    AppState, admission, ids,
    lifecycle::remove_share,
    metrics::{DbOp, Transport},
    store::{Claim, ClaimRefused, GoneReason, Lookup, ShareRow},
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
    let client = crate::gate::client_address(&req, &state.config.trusted_proxies);
    actix_web::rt::spawn(async move {
        ws::serve(socket, DownloadEvent::Error, async |out, frames| {
            run(&state, client, out, frames).await
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
pub(crate) async fn downloadable(state: &AppState, id: &str) -> Result<ShareRow, End> {
    if !ids::is_share_id(id) {
        return Err(not_found());
    }
    match state
        .metrics
        .db(DbOp::Lookup, state.shares.lookup(id))
        .await?
    {
        Lookup::NotFound => Err(not_found()),
        Lookup::Gone(t) => Err(gone_refusal(t.reason)),
        Lookup::Live(row) if row.expires_at <= state.shares.now_ms() => {
            Err(gone_refusal(GoneReason::Expired))
        }
        Lookup::Live(row) if row.downloads_left == 0 => Err(gone_refusal(GoneReason::UsedUp)),
        Lookup::Live(row) => Ok(row),
    }
}

/// A `start`: which share, the download token, and for a resume its claim token and the
/// first chunk still wanted.
pub(crate) struct Start {
    pub(crate) share_id: String,
    pub(crate) token: Vec<u8>,
    pub(crate) resume: Option<(Vec<u8>, u64)>,
}

/// Reads and checks the first message.
async fn read_start(
    state: &AppState,
    session: &mut Outbox,
    stream: &mut Frames,
) -> Result<Start, End> {
    match ws::next_message(session, stream, state.config.idle_timeout).await? {
        Incoming::Closed => Err(End::Gone),
        Incoming::Binary(_) => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "binary data before \"start\"",
        )),
        Incoming::Text(text) => parse_start(&text),
    }
}

/// Checks a `start` message (the first on the socket, or the body of a claim over HTTP).
pub(crate) fn parse_start(text: &str) -> Result<Start, End> {
    match serde_json::from_str::<DownloadRequest>(text) {
        Err(e) => Err(End::refuse(
            ErrorCode::BadRequest,
            format!("malformed message: {e}"),
        )),
        Ok(DownloadRequest::Start { version, .. }) if version != PROTOCOL_VERSION => {
            Err(End::refuse(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}, not {version}"),
            ))
        }
        Ok(DownloadRequest::Start {
            share_id,
            token,
            claim_token,
            from_chunk,
            ..
        }) => {
            let resume = match (claim_token, from_chunk) {
                (None, None) => None,
                (Some(claim), Some(from)) => Some((claim.0, from)),
                _ => {
                    return Err(End::refuse(
                        ErrorCode::BadRequest,
                        "a resumed \"start\" needs both claim_token and from_chunk",
                    ));
                }
            };
            Ok(Start {
                share_id,
                token: token.0,
                resume,
            })
        }
        Ok(_) => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "the first message must be \"start\"",
        )),
    }
}

/// What a download `start` must pass before its share is even looked at: the client's
/// rate of wrong passphrases, and of new downloads (a resumed claim is not a new one).
pub(crate) fn may_start(
    state: &AppState,
    start: &Start,
    client: Option<std::net::IpAddr>,
) -> Result<(), End> {
    admission::not_guessing(state, client)?;
    if start.resume.is_none() {
        admission::rate(&state.rates.download_starts, client, "downloads started")?;
    }
    Ok(())
}

/// Checks the download token; a wrong one counts against the share's tries and the
/// client's rate of wrong passphrases.
pub(crate) async fn check_token(
    state: &AppState,
    row: &ShareRow,
    token: &[u8],
    short: &str,
    client: Option<std::net::IpAddr>,
) -> Result<(), End> {
    if verify_token(token, &row.verifier) {
        return Ok(());
    }
    // Counted only; this try is answered as wrong either way, and the next is refused
    // by `may_start` while the client is over its rate.
    let _ = admission::rate(&state.rates.wrong_passphrases, client, "wrong passphrases");
    let left = state.shares.record_wrong_attempt(&row.id).await?;
    tracing::warn!(share = %short, attempts_left = ?left, "wrong download token");
    let Some(left) = left else {
        return Err(not_found());
    };
    if left == 0 {
        remove_share(state, &row.id, GoneReason::Locked).await?;
    }
    Err(End::Refuse {
        body: ErrorBody {
            code: ErrorCode::WrongToken,
            message: WRONG_TOKEN_MESSAGE.into(),
            attempts_left: Some(left),
        },
        close: actix_ws::CloseCode::Policy,
    })
}

/// How a share's ciphertext is cut into chunk frames (the envelope's rule, shared with
/// the clients) and how many go ahead of the acks.
pub(crate) struct Plan {
    pub(crate) layout: Layout,
    pub(crate) total: u64,
    pub(crate) chunks: u64,
    pub(crate) window: u64,
}

impl Plan {
    pub(crate) fn of(row: &ShareRow) -> Result<Plan, End> {
        // The header was validated at upload time; re-parse to be safe.
        let header = ferry_common::Header::parse(&row.header)
            .map_err(|e| End::internal(anyhow::anyhow!("stored header invalid: {e}")))?;
        let layout = Layout::new(&header, row.ciphertext_size)
            .ok_or_else(|| End::internal(anyhow::anyhow!("stored size invalid")))?;
        Ok(Plan {
            layout,
            total: row.ciphertext_size,
            chunks: layout.chunks(),
            window: u64::from(ws::window_for(layout.sealed())),
        })
    }

    /// A reader of `row`'s chunks below `until` (see [`ChunkReader`]).
    pub(crate) fn reader(&self, state: &AppState, row: &ShareRow, until: u64) -> ChunkReader {
        let blobs = state.blobs.clone();
        ChunkReader::new(blobs, &row.id, self.layout, row.segment_chunks, until)
    }
}

/// Claims a free download for a fresh `start` (and makes its claim token), or takes over
/// the live claim a resumed `start` names.
pub(crate) async fn claim_for(
    state: &AppState,
    row: &ShareRow,
    plan: &Plan,
    resume: Option<(Vec<u8>, u64)>,
) -> Result<(Claim, Option<[u8; 32]>, u64), End> {
    let lease = state.config.lease;
    let Some((claim_token, from)) = resume else {
        let token = random_token().map_err(|e| End::internal(anyhow::anyhow!("{e}")))?;
        let claim_verifier = verifier(&token);
        let claim = state.shares.claim(&row.id, lease, &claim_verifier);
        return match state.metrics.db(DbOp::Claim, claim).await? {
            Ok(claim) => Ok((claim, Some(token), 0)),
            Err(refused) => Err(claim_refusal(state, row, refused).await?),
        };
    };
    if from >= plan.chunks {
        return Err(End::refuse(
            ErrorCode::BadRequest,
            format!(
                "from_chunk {from} is not below the share's {} chunks",
                plan.chunks
            ),
        ));
    }
    let claim_verifier = verifier(&claim_token);
    let resumed = state.shares.resume(&row.id, &claim_verifier, lease);
    match state.metrics.db(DbOp::Claim, resumed).await? {
        Some(claim) => Ok((claim, None, from)),
        None => Err(End::refuse(
            ErrorCode::ClaimLost,
            "no live claim has this claim token (it was released, counted, or its lease ran out); start the download again",
        )),
    }
}

/// The refusal for a claim that failed; a share whose every download is counted is
/// removed (its lapsed held claims were just counted).
async fn claim_refusal(
    state: &AppState,
    row: &ShareRow,
    refused: ClaimRefused,
) -> anyhow::Result<End> {
    tracing::info!(share = %ids::short(&row.id), ?refused, "download not claimed");
    Ok(match refused {
        ClaimRefused::Busy => End::refuse(
            ErrorCode::Busy,
            "every remaining download of this share is in progress right now; try again in a minute",
        ),
        ClaimRefused::UsedUp => {
            remove_share(state, &row.id, GoneReason::UsedUp).await?;
            gone_refusal(GoneReason::UsedUp)
        }
        ClaimRefused::Gone if row.expires_at <= state.shares.now_ms() => {
            gone_refusal(GoneReason::Expired)
        }
        ClaimRefused::Gone => not_found(),
    })
}

async fn run(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    session: &mut Outbox,
    stream: &mut Frames,
) -> Result<(), End> {
    let start = read_start(state, session, stream).await?;
    may_start(state, &start, client)?;
    let short = ids::short(&start.share_id).to_owned();
    let row = downloadable(state, &start.share_id)
        .await
        .inspect_err(|end| {
            tracing::info!(share = %short, code = ?end.code(), "download refused");
        })?;
    check_token(state, &row, &start.token, &short, client).await?;
    let plan = Plan::of(&row)?;
    let resumed = start.resume.is_some();
    let (mut claim, claim_token, from) = claim_for(state, &row, &plan, start.resume)
        .await
        .inspect_err(|end| tracing::info!(share = %short, code = ?end.code(), resumed, "download not started"))?;
    tracing::info!(share = %short, slot = claim.slot, bytes = row.ciphertext_size, resumed, from, "download claimed");
    let ready = ready(&row, &plan, claim_token);
    let _in_progress = state.metrics.download(Transport::Ws);
    let started = Instant::now();
    let result = match ws::send_json(session, &ready).await {
        Ok(()) => {
            let at = Served::starting(from, resumed, &plan);
            stream_chunks(state, session, stream, &row, &plan, &mut claim, at).await
        }
        Err(end) => Err(Stopped::ByClient(end)),
    };
    settle(state, session, &row, &claim, result, started).await
}

/// The `ready` answer to a `start`: the claim token only for a fresh claim.
pub(crate) fn ready(row: &ShareRow, plan: &Plan, claim_token: Option<[u8; 32]>) -> DownloadEvent {
    DownloadEvent::Ready {
        metadata: row.metadata.clone().into(),
        ciphertext_size: plan.total,
        chunks: plan.chunks,
        window: plan.window as u32,
        claim_token: claim_token.map(|t| Bytes(t.to_vec())),
    }
}

/// Counts a download whose client has the whole file (removing a share with none left),
/// and returns the downloads left; `started` is when serving began, if this process knows.
pub(crate) async fn count(
    state: &AppState,
    row: &ShareRow,
    claim: &Claim,
    started: Option<Instant>,
) -> Result<u32, End> {
    let short = ids::short(&row.id);
    let consumed = state.shares.consume(claim);
    let Some(left) = state.metrics.db(DbOp::Consume, consumed).await? else {
        // Taken over by a resume elsewhere, or counted after its lease ran out.
        tracing::warn!(share = %short, "a completed claim was no longer this connection's");
        return Err(lost_claim(state, &row.id).await);
    };
    state.metrics.counted();
    if left == 0 {
        remove_share(state, &row.id, GoneReason::UsedUp).await?;
    }
    let secs = started.map(|s| s.elapsed().as_secs_f64());
    tracing::info!(
        share = %short,
        bytes = row.ciphertext_size,
        secs,
        mb_per_s = secs.map(|secs| row.ciphertext_size as f64 / 1e6 / secs.max(1e-9)),
        downloads_left = left,
        "download counted"
    );
    Ok(left)
}

/// Counts a completed download and answers `done`, or decides what a stopped one leaves:
/// a held claim stays its claimant's, any other is released, and one the server could not
/// serve in full is released even if held.
async fn settle(
    state: &AppState,
    session: &mut Outbox,
    row: &ShareRow,
    claim: &Claim,
    result: Result<(), Stopped>,
    started: Instant,
) -> Result<(), End> {
    let short = ids::short(&row.id);
    match result {
        Ok(()) => {
            let left = count(state, row, claim, Some(started)).await?;
            ws::send_json(
                session,
                &DownloadEvent::Done {
                    downloads_left: left,
                },
            )
            .await
        }
        Err(Stopped::ByServer(end)) => {
            // Not served in full: it never counts, even if the claim was held.
            let released = state.shares.release_unserved(claim).await.unwrap_or(false);
            tracing::warn!(share = %short, code = ?end.code(), released, "download could not be served");
            Err(end)
        }
        Err(Stopped::ByClient(end)) if claim.held => {
            // The client may have what was sent: the claim stays its claimant's until it
            // resumes and completes, or its lease runs out and it counts.
            tracing::info!(share = %short, code = ?end.code(), "held download cut off; resumable within its lease");
            Err(end)
        }
        Err(Stopped::ByClient(end)) => {
            // Cut inside its first window, before its final chunk: free again at once.
            let released = state.shares.release(claim).await.unwrap_or(false);
            match end.code() {
                Some(code) => tracing::warn!(share = %short, ?code, released, "download failed"),
                None => tracing::info!(share = %short, released, "download cut off"),
            }
            Err(end)
        }
    }
}

/// Why serving stopped before the client acknowledged the final chunk.
pub(crate) enum Stopped {
    /// The client went away, stalled or broke the protocol: a held claim stays its
    /// claimant's.
    ByClient(End),
    /// The server could not serve the file in full (storage or database failed, the blob
    /// is shorter than recorded, the claim was lost): the download never counts.
    ByServer(End),
}

impl From<anyhow::Error> for Stopped {
    fn from(err: anyhow::Error) -> Stopped {
        Stopped::ByServer(End::internal(err))
    }
}

/// Where one connection's serving stands.
struct Served {
    /// Chunks sent (the next index to send).
    sent: u64,
    /// Chunks the client acknowledged.
    acked: u64,
    /// The client asked for the final chunk: it acknowledged every chunk before it (an
    /// ack of 0 for a one-chunk share), or resumed from the final chunk.
    final_asked: bool,
    last_renew: Instant,
}

impl Served {
    /// Serving from chunk `from`. A resumed `start` from the final chunk asks for it; a
    /// fresh one never does (the client has not seen the chunk count yet).
    fn starting(from: u64, resumed: bool, plan: &Plan) -> Served {
        Served {
            sent: from,
            acked: from,
            final_asked: resumed && from + 1 == plan.chunks,
            last_renew: Instant::now(),
        }
    }
}

/// Serves chunks from where `at` stands until the client acknowledges the final one. Every chunk but
/// the final goes out as the window allows; the final only once asked for. The claim is
/// held before the first chunk past the first window or the final chunk is sent.
async fn stream_chunks(
    state: &AppState,
    session: &mut Outbox,
    stream: &mut Frames,
    row: &ShareRow,
    plan: &Plan,
    claim: &mut Claim,
    mut at: Served,
) -> Result<(), Stopped> {
    let mut reader = plan.reader(state, row, plan.chunks);
    // Bounded: every turn sends a chunk (at most `chunks`) or consumes a client message,
    // and the client can only send acks that move forward or end the socket.
    loop {
        while may_send(plan, &at) {
            let index = at.sent;
            before_chunk(state, plan, claim, index, &mut at.last_renew).await?;
            let bytes = read_chunk(state, row, &mut reader, index).await?;
            let len = bytes.len() as u64;
            session.binary(bytes).await.map_err(Stopped::ByClient)?;
            state.metrics.sent(Transport::Ws, len);
            at.sent += 1;
        }
        renew_if_due(state, claim, &mut at.last_renew).await?;
        let msg = ws::next_message(session, stream, state.config.idle_timeout)
            .await
            .map_err(Stopped::ByClient)?;
        if take_ack(msg, plan, &mut at).map_err(Stopped::ByClient)? {
            return Ok(());
        }
    }
}

/// Whether the next chunk may go out now.
fn may_send(plan: &Plan, at: &Served) -> bool {
    let in_window = at.sent < plan.chunks && at.sent - at.acked < plan.window;
    in_window && (at.sent + 1 < plan.chunks || at.final_asked)
}

/// Extends the lease every third of it, whether chunks flow or the client is slow to
/// acknowledge.
async fn renew_if_due(
    state: &AppState,
    claim: &Claim,
    last_renew: &mut Instant,
) -> Result<(), Stopped> {
    if last_renew.elapsed() < state.config.lease / 3 {
        return Ok(());
    }
    if !state.shares.renew(claim, state.config.lease).await? {
        return Err(Stopped::ByServer(lost_claim(state, &claim.share_id).await));
    }
    *last_renew = Instant::now();
    Ok(())
}

/// What comes before chunk `index` is sent, on the socket or over HTTP: the claim is held
/// first if the chunk is past the first window or the final one, and its lease renewed
/// when due.
pub(crate) async fn before_chunk(
    state: &AppState,
    plan: &Plan,
    claim: &mut Claim,
    index: u64,
    last_renew: &mut Instant,
) -> Result<(), Stopped> {
    if (index >= plan.window || index + 1 == plan.chunks) && !claim.held {
        if !state.shares.hold(claim).await? {
            return Err(Stopped::ByServer(lost_claim(state, &claim.share_id).await));
        }
        claim.held = true;
    }
    renew_if_due(state, claim, last_renew).await
}

/// Applies a client message: only acks that move within what was sent are allowed. True
/// once the final chunk is acknowledged.
fn take_ack(msg: Incoming, plan: &Plan, at: &mut Served) -> Result<bool, End> {
    let text = match msg {
        Incoming::Closed => return Err(End::Gone),
        Incoming::Binary(_) => {
            return Err(End::refuse(
                ErrorCode::ProtocolViolation,
                "binary data on the download socket",
            ));
        }
        Incoming::Text(text) => text,
    };
    match serde_json::from_str::<DownloadRequest>(&text) {
        Ok(DownloadRequest::Ack { chunks: n }) if n < at.acked || n > at.sent => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            format!(
                "ack of {n} chunks, but {} were sent and {} acked",
                at.sent, at.acked
            ),
        )),
        Ok(DownloadRequest::Ack { chunks: n }) => {
            at.acked = n;
            at.final_asked |= n + 1 == plan.chunks;
            Ok(n == plan.chunks)
        }
        Ok(DownloadRequest::Start { .. }) => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "\"start\" was already sent",
        )),
        Ok(DownloadRequest::Unknown) => Err(End::refuse(
            ErrorCode::ProtocolViolation,
            "unknown message type on the download socket",
        )),
        Err(e) => Err(End::refuse(
            ErrorCode::BadRequest,
            format!("malformed message: {e}"),
        )),
    }
}

/// Reads chunk `index`'s bytes from storage through `reader`, which knows where they
/// are (its segment, or for shares stored before segments their single blob). A read that
/// fails or comes back shorter than the chunk means the server cannot serve the file in
/// full.
pub(crate) async fn read_chunk(
    state: &AppState,
    row: &ShareRow,
    reader: &mut ChunkReader,
    index: u64,
) -> Result<actix_web::web::Bytes, Stopped> {
    match reader.chunk(index).await {
        Ok(bytes) => Ok(bytes),
        Err(short @ ReadError::Short { .. }) => {
            Err(Stopped::ByServer(End::internal(anyhow::Error::new(short))))
        }
        Err(ReadError::Store(err)) => {
            Err(Stopped::ByServer(read_failed(state, &row.id, err).await))
        }
    }
}

/// A chunk could not be read: the share was removed meanwhile (expired and swept, or
/// deleted by its owner), or storage failed.
async fn read_failed(state: &AppState, id: &str, err: anyhow::Error) -> End {
    match state.shares.lookup(id).await {
        Ok(Lookup::Gone(t)) => gone_refusal(t.reason),
        Ok(Lookup::NotFound) => not_found(),
        Ok(Lookup::Live(row)) if row.expires_at <= state.shares.now_ms() => {
            gone_refusal(GoneReason::Expired)
        }
        _ => End::internal(err.context("reading a chunk")),
    }
}

/// The refusal for a download whose claim is no longer its own: the share was removed
/// meanwhile (deleted by its owner, expired and swept: say so), or the claim was taken
/// over or lapsed (`busy`).
pub(crate) async fn lost_claim(state: &AppState, id: &str) -> End {
    match state.shares.lookup(id).await {
        Ok(Lookup::Gone(t)) => gone_refusal(t.reason),
        Ok(Lookup::NotFound) => not_found(),
        Ok(Lookup::Live(row)) if row.expires_at <= state.shares.now_ms() => {
            gone_refusal(GoneReason::Expired)
        }
        _ => End::refuse(
            ErrorCode::Busy,
            "this download stalled longer than its lease and was handed to someone else; try again",
        ),
    }
}
