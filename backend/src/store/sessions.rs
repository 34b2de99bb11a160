//! Upload sessions: the `uploads` row written at `start`, one `segments` row per stored
//! segment, and the commit that turns a complete session into a share.
//!
//! ```text
//! start ──► open (committed = 0) ──commit──► committed (a share exists) ──abandon_at──► row forgotten
//!             │ no segment stored before abandon_at
//!             └──────────────► abandoned: row and segment rows deleted, objects swept
//! ```
//! Every transition is one conditional statement (inside one transaction where a share is
//! inserted too), so any number of server processes can serve the same session.
use sqlx::{AnyConnection, Connection, Row};

use super::{
    NewShare, ShareStore,
    credentials::{Admission, AdmitRefused, admit_in, release_in},
    insert_in, returning, settle,
};

/// An upload session as `start` creates it.
pub struct NewUpload {
    /// The share ID it will become.
    pub id: String,
    /// `verifier(upload token)`.
    pub upload_verifier: Vec<u8>,
    /// `verifier(owner token)`.
    pub owner_verifier: Vec<u8>,
    /// Public header.
    pub header: Vec<u8>,
    /// Sealed metadata.
    pub metadata: Vec<u8>,
    /// `verifier(download token)`.
    pub verifier: Vec<u8>,
    /// Ciphertext bytes of the whole upload.
    pub ciphertext_size: u64,
    /// Download limit.
    pub max_downloads: u32,
    /// Lifetime of the share from its commit, milliseconds.
    pub expires_in_ms: i64,
    /// Chunks per segment.
    pub segment_chunks: u64,
    /// Segments of the whole upload.
    pub segments: u64,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// When it is abandoned unless a segment is stored before.
    pub abandon_at: i64,
}

/// An upload session as stored.
#[derive(Clone, Debug)]
pub struct UploadSession {
    /// Share ID.
    pub id: String,
    /// `verifier(upload token)`.
    pub upload_verifier: Vec<u8>,
    /// Public header.
    pub header: Vec<u8>,
    /// Ciphertext bytes of the whole upload.
    pub ciphertext_size: u64,
    /// Chunks per segment.
    pub segment_chunks: u64,
    /// Segments of the whole upload.
    pub segments: u64,
    /// Whether it has become a share; `expires_at` is then the share's expiry.
    pub committed: Option<i64>,
}

/// What recording a stored segment found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The row is new.
    New,
    /// The same segment (same hash) was recorded before: nothing changed.
    Same,
    /// A different segment was recorded under this index before.
    Differs,
    /// The session is gone (abandoned, or committed meanwhile).
    NoSession,
}

/// What a commit found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committed {
    /// This call made the share; it expires then.
    Now(i64),
    /// An earlier call made it; it expires then.
    Before(i64),
    /// Some segments are not stored yet.
    Incomplete,
    /// No such session (abandoned and swept).
    NoSession,
}

impl ShareStore {
    /// Writes a new session's row, charging its bytes to every quota `admission` names
    /// in the same transaction; nothing is stored for it before this returns.
    pub async fn begin_upload(
        &self,
        up: &NewUpload,
        admission: &Admission,
    ) -> anyhow::Result<Result<(), AdmitRefused>> {
        let mut conn = self.pool.acquire().await?;
        let result = begin_in(&mut conn, up, admission, self.now_ms()).await;
        settle(conn, &result);
        result
    }

    /// The session `id`, if it exists.
    pub async fn upload_session(&self, id: &str) -> anyhow::Result<Option<UploadSession>> {
        let row = sqlx::query(
            "SELECT id, upload_verifier, header, ciphertext_size, segment_chunks, segments, \
             committed, expires_at FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(UploadSession {
            id: row.try_get("id")?,
            upload_verifier: row.try_get("upload_verifier")?,
            header: row.try_get("header")?,
            ciphertext_size: row.try_get::<i64, _>("ciphertext_size")? as u64,
            segment_chunks: row.try_get::<i64, _>("segment_chunks")? as u64,
            segments: row.try_get::<i64, _>("segments")? as u64,
            committed: (row.try_get::<i64, _>("committed")? != 0)
                .then(|| row.try_get::<i64, _>("expires_at"))
                .transpose()?,
        }))
    }

    /// Indices of the segments recorded for `id`, ascending.
    pub async fn stored_segments(&self, id: &str) -> anyhow::Result<Vec<u64>> {
        let rows = sqlx::query("SELECT idx FROM segments WHERE share_id = $1 ORDER BY idx")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("idx")? as u64))
            .collect()
    }

    /// The hash recorded for segment `idx` of `id`, if any.
    pub async fn segment_hash(&self, id: &str, idx: u64) -> anyhow::Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT sha256 FROM segments WHERE share_id = $1 AND idx = $2")
            .bind(id)
            .bind(idx as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("sha256")).transpose()?)
    }

    /// Records a segment whose object is durable, if the session is still open, and
    /// pushes its abandonment back to `abandon_at`. One conditional INSERT: two
    /// connections recording the same index leave one row.
    pub async fn record_segment(
        &self,
        id: &str,
        idx: u64,
        size: u64,
        sha256: &[u8],
        abandon_at: i64,
    ) -> anyhow::Result<Recorded> {
        let insert = sqlx::query(
            "INSERT INTO segments (share_id, idx, size, sha256) \
             SELECT $1, $2, $3, $4 WHERE EXISTS \
               (SELECT 1 FROM uploads WHERE id = $1 AND committed = 0) \
             ON CONFLICT DO NOTHING RETURNING idx",
        )
        .bind(id)
        .bind(idx as i64)
        .bind(size as i64)
        .bind(sha256);
        if returning(insert, &self.pool).await?.is_some() {
            let touch = sqlx::query(
                "UPDATE uploads SET abandon_at = $2 WHERE id = $1 AND committed = 0 \
                 AND abandon_at < $2 RETURNING id",
            )
            .bind(id)
            .bind(abandon_at);
            returning(touch, &self.pool).await?;
            return Ok(Recorded::New);
        }
        Ok(match self.segment_hash(id, idx).await? {
            Some(stored) if stored == sha256 => Recorded::Same,
            Some(_) => Recorded::Differs,
            None => Recorded::NoSession,
        })
    }

    /// Turns a complete session into a share with `attempts` wrong-token tries: one
    /// conditional UPDATE (open and every segment recorded → committed) and the share's
    /// insertion, in one transaction. Retried, it reports the earlier commit.
    pub async fn commit_upload(
        &self,
        id: &str,
        attempts: u32,
        now: i64,
    ) -> anyhow::Result<Committed> {
        let mut conn = self.pool.acquire().await?;
        let result = commit_in(&mut conn, id, attempts, now).await;
        settle(conn, &result);
        match result? {
            Some(expires_at) => Ok(Committed::Now(expires_at)),
            None => Ok(match self.upload_session(id).await? {
                Some(UploadSession {
                    committed: Some(expires_at),
                    ..
                }) => Committed::Before(expires_at),
                Some(_) => Committed::Incomplete,
                None => Committed::NoSession,
            }),
        }
    }

    /// Open sessions past their abandonment time.
    pub async fn abandoned_uploads(&self, now: i64) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM uploads WHERE committed = 0 AND abandon_at <= $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// Deletes an abandoned session and its segment rows, if it is still open and past
    /// `now` (a commit or a stored segment wins the race). True if it was deleted: its
    /// objects are then the caller's to delete.
    pub async fn remove_abandoned(&self, id: &str, now: i64) -> anyhow::Result<bool> {
        let mut conn = self.pool.acquire().await?;
        let result = remove_abandoned_in(&mut conn, id, now).await;
        settle(conn, &result);
        result
    }

    /// Forgets committed sessions past their abandonment time (a retried commit that late
    /// finds the share by other means: its owner status).
    pub async fn forget_committed_uploads(&self, now: i64) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM uploads WHERE committed = 1 AND abandon_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn begin_in(
    conn: &mut AnyConnection,
    up: &NewUpload,
    admission: &Admission,
    now: i64,
) -> anyhow::Result<Result<(), AdmitRefused>> {
    let mut tx = conn.begin().await?;
    let token_id = match admit_in(&mut tx, &up.id, up.ciphertext_size, admission, now).await? {
        Ok(token_id) => token_id,
        Err(refused) => return Ok(Err(refused)),
    };
    sqlx::query(
        "INSERT INTO uploads (id, upload_verifier, owner_verifier, header, metadata, verifier, \
         ciphertext_size, max_downloads, expires_in_ms, segment_chunks, segments, created_at, \
         abandon_at, token_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&up.id)
    .bind(&up.upload_verifier)
    .bind(&up.owner_verifier)
    .bind(&up.header)
    .bind(&up.metadata)
    .bind(&up.verifier)
    .bind(up.ciphertext_size as i64)
    .bind(i64::from(up.max_downloads))
    .bind(up.expires_in_ms)
    .bind(up.segment_chunks as i64)
    .bind(up.segments as i64)
    .bind(up.created_at)
    .bind(up.abandon_at)
    .bind(token_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

async fn commit_in(
    conn: &mut AnyConnection,
    id: &str,
    attempts: u32,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    let mut tx = conn.begin().await?;
    let update = sqlx::query(
        "UPDATE uploads SET committed = 1, expires_at = $2 + expires_in_ms \
         WHERE id = $1 AND committed = 0 \
           AND segments = (SELECT COUNT(*) FROM segments WHERE share_id = $1) \
         RETURNING header, metadata, verifier, owner_verifier, ciphertext_size, max_downloads, \
                   segment_chunks, expires_at",
    )
    .bind(id)
    .bind(now);
    let Some(row) = returning(update, &mut *tx).await? else {
        return Ok(None);
    };
    let share = NewShare {
        id: id.to_owned(),
        header: row.try_get("header")?,
        metadata: row.try_get("metadata")?,
        verifier: row.try_get("verifier")?,
        owner_verifier: row.try_get("owner_verifier")?,
        ciphertext_size: row.try_get::<i64, _>("ciphertext_size")? as u64,
        max_downloads: row.try_get::<i64, _>("max_downloads")? as u32,
        attempts,
        created_at: now,
        expires_at: row.try_get("expires_at")?,
        segment_chunks: row.try_get::<i64, _>("segment_chunks")? as u64,
    };
    insert_in(&mut tx, &share).await?;
    // The share counts against the upload's token from now on (its bytes stay held).
    sqlx::query(
        "UPDATE shares SET token_id = (SELECT token_id FROM uploads WHERE id = $1) WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(share.expires_at))
}

async fn remove_abandoned_in(conn: &mut AnyConnection, id: &str, now: i64) -> anyhow::Result<bool> {
    let mut tx = conn.begin().await?;
    let deleted = sqlx::query(
        "DELETE FROM uploads WHERE id = $1 AND committed = 0 AND abandon_at <= $2 \
         RETURNING ciphertext_size, token_id",
    )
    .bind(id)
    .bind(now);
    let Some(row) = returning(deleted, &mut *tx).await? else {
        return Ok(false);
    };
    // An invitation it used may be used again; its bytes are held no more.
    sqlx::query("UPDATE invitations SET upload_id = NULL WHERE upload_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let token_id: Option<String> = row.try_get("token_id")?;
    release_in(
        &mut tx,
        row.try_get("ciphertext_size")?,
        token_id.as_deref(),
    )
    .await?;
    sqlx::query("DELETE FROM segments WHERE share_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}
