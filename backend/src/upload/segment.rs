//! Storing one segment: its object written once, then its row; a segment sent again is
//! accepted only if its bytes are the stored ones.
use bytes::Bytes;
use ferry_common::protocol::ErrorCode;
use object_store::PutPayload;
use sha2::{Digest, Sha256};

use crate::{AppState, blobs::Put, metrics::DbOp, store::Recorded, ws::End};

/// Stores segment `index` of upload `id` (its chunks, in order). Returns once its object
/// and its row both exist, which is what the client's `ack` promises.
pub(crate) async fn store(
    state: &AppState,
    id: &str,
    index: u64,
    chunks: Vec<Bytes>,
) -> Result<(), End> {
    let size = chunks.iter().map(|c| c.len() as u64).sum();
    let hash = hash_off_thread(chunks.clone()).await?;
    let payload: PutPayload = chunks.into_iter().collect();
    let put = state
        .blobs
        .put_segment(id, index, payload)
        .await
        .map_err(|e| End::internal(e.context("writing a segment")))?;
    if put == Put::Exists && !same_as_stored(state, id, index, &hash).await? {
        return Err(mismatch(index));
    }
    let abandon_at = state.shares.now_ms() + state.config.abandon_uploads_after.as_millis() as i64;
    let record = (state.shares).record_segment(id, index, size, &hash, abandon_at);
    let recorded = state
        .metrics
        .db(DbOp::RecordSegment, record)
        .await
        .map_err(|e| End::internal(e.context("recording a segment")))?;
    match recorded {
        Recorded::New | Recorded::Same => Ok(()),
        Recorded::Differs => Err(mismatch(index)),
        Recorded::NoSession => Err(End::refuse(
            ErrorCode::NotFound,
            "this upload no longer exists (it was abandoned); start it again",
        )),
    }
}

/// SHA-256 of `chunks` in order, on the blocking pool: a 5 MiB segment takes milliseconds,
/// which would otherwise stall every socket of this worker's runtime.
async fn hash_off_thread(chunks: Vec<Bytes>) -> Result<Vec<u8>, End> {
    let hashed = tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        for chunk in &chunks {
            hasher.update(chunk);
        }
        hasher.finalize().to_vec()
    });
    hashed
        .await
        .map_err(|e| End::internal(anyhow::anyhow!("hashing a segment: {e}")))
}

/// Whether the object already stored under `index` holds `hash`: from its row if it has
/// one, else (a writer that stopped between object and row) by reading it back.
async fn same_as_stored(state: &AppState, id: &str, index: u64, hash: &[u8]) -> Result<bool, End> {
    let recorded = state
        .shares
        .segment_hash(id, index)
        .await
        .map_err(|e| End::internal(e.context("reading a segment's hash")))?;
    if let Some(recorded) = recorded {
        return Ok(recorded == hash);
    }
    let stored = state
        .blobs
        .segment(id, index)
        .await
        .map_err(|e| End::internal(e.context("reading a stored segment back")))?;
    Ok(Sha256::digest(&stored).as_slice() == hash)
}

fn mismatch(index: u64) -> End {
    End::refuse(
        ErrorCode::SegmentMismatch,
        format!(
            "segment {index} was stored before with different bytes; the file or its \
             encryption changed, so this upload cannot continue (start a new one)"
        ),
    )
}
