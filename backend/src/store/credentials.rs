//! Upload tokens, invitations and the bytes each holds, in SQL (schema and rules in
//! `migrations/0005_credentials.sql`). Admitting an upload charges every quota it counts
//! against inside the transaction that writes its session row, each with one conditional
//! UPDATE; removing a share or an abandoned upload gives the bytes back in the transaction
//! that removes it.
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{ShareStore, returning};

/// An upload token as stored (its secret is not).
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// Public handle.
    pub id: String,
    /// What the operator called it.
    pub label: String,
    /// Verifier of its secret.
    pub verifier: Vec<u8>,
    /// Most ciphertext bytes it may hold at once; `None`: no quota of its own.
    pub quota_bytes: Option<u64>,
    /// Ciphertext bytes its live shares and unfinished uploads hold.
    pub held_bytes: u64,
    /// When it was made, epoch milliseconds.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// An invitation as stored (its secret is not).
#[derive(Clone, Debug)]
pub struct InvitationRow {
    /// Public handle.
    pub id: String,
    /// The token whose quota its file counts against; `None`: made by the operator.
    pub token_id: Option<String>,
    /// Verifier of its secret.
    pub verifier: Vec<u8>,
    /// Largest file, ciphertext bytes.
    pub max_bytes: u64,
    /// When it was made, epoch milliseconds.
    pub created_at: i64,
    /// Until when it can be used, epoch milliseconds.
    pub expires_at: i64,
    /// Whether an upload used it.
    pub used: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What an upload counts against, checked when its session is written.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    /// The server's storage quota, ciphertext bytes.
    pub server_quota: Option<u64>,
    /// The upload token it came with (already verified).
    pub token_id: Option<String>,
    /// The invitation it came with (already verified).
    pub invitation_id: Option<String>,
}

/// Why an upload was not admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmitRefused {
    /// The server's storage quota would be exceeded.
    ServerQuota {
        /// Bytes held now.
        held: u64,
        /// The quota.
        quota: u64,
    },
    /// The token's quota would be exceeded.
    TokenQuota {
        /// Bytes held now.
        held: u64,
        /// The quota.
        quota: u64,
    },
    /// The token was revoked meanwhile.
    TokenRevoked,
    /// The invitation is used, revoked, expired, or smaller than the file.
    InvitationUnusable,
}

fn token_from_row(row: &AnyRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        verifier: row.try_get("verifier")?,
        quota_bytes: row
            .try_get::<Option<i64>, _>("quota_bytes")?
            .map(|q| q.max(0) as u64),
        held_bytes: row.try_get::<i64, _>("held_bytes")?.max(0) as u64,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn invitation_from_row(row: &AnyRow) -> Result<InvitationRow, sqlx::Error> {
    Ok(InvitationRow {
        id: row.try_get("id")?,
        token_id: row.try_get("token_id")?,
        verifier: row.try_get("verifier")?,
        max_bytes: row.try_get::<i64, _>("max_bytes")?.max(0) as u64,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used: row.try_get::<Option<String>, _>("upload_id")?.is_some(),
        revoked_at: row.try_get("revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "id, label, verifier, quota_bytes, held_bytes, created_at, revoked_at";
const INVITATION_COLUMNS: &str =
    "id, token_id, verifier, max_bytes, created_at, expires_at, upload_id, revoked_at";

impl ShareStore {
    /// Stores a new upload token.
    pub async fn insert_token(&self, token: &TokenRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO upload_tokens (id, label, verifier, quota_bytes, held_bytes, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&token.id)
        .bind(&token.label)
        .bind(&token.verifier)
        .bind(token.quota_bytes.map(|q| q as i64))
        .bind(token.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The token with handle `id`.
    pub async fn token(&self, id: &str) -> anyhow::Result<Option<TokenRow>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM upload_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?)
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> anyhow::Result<Vec<TokenRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM upload_tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes token `id` (and the invitations it made that are still unused): no new
    /// upload is admitted with them; shares already made stay. False if there is no such
    /// token or it was revoked already.
    pub async fn revoke_token(&self, id: &str) -> anyhow::Result<bool> {
        let now = self.now_ms();
        let query = sqlx::query(
            "UPDATE upload_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id",
        )
        .bind(id)
        .bind(now);
        let revoked = returning(query, &self.pool).await?.is_some();
        sqlx::query(
            "UPDATE invitations SET revoked_at = $2 \
             WHERE token_id = $1 AND revoked_at IS NULL AND upload_id IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(revoked)
    }

    /// Stores a new invitation.
    pub async fn insert_invitation(&self, inv: &InvitationRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO invitations (id, token_id, verifier, max_bytes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inv.id)
        .bind(&inv.token_id)
        .bind(&inv.verifier)
        .bind(inv.max_bytes as i64)
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The invitation with handle `id`.
    pub async fn invitation(&self, id: &str) -> anyhow::Result<Option<InvitationRow>> {
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(invitation_from_row).transpose()?)
    }

    /// Every invitation, oldest first.
    pub async fn invitations(&self) -> anyhow::Result<Vec<InvitationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(invitation_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Revokes invitation `id` if unused. False if there is none to revoke.
    pub async fn revoke_invitation(&self, id: &str) -> anyhow::Result<bool> {
        let query = sqlx::query(
            "UPDATE invitations SET revoked_at = $2 \
             WHERE id = $1 AND revoked_at IS NULL AND upload_id IS NULL RETURNING id",
        )
        .bind(id)
        .bind(self.now_ms());
        Ok(returning(query, &self.pool).await?.is_some())
    }

    /// Ciphertext bytes the server holds (live shares and unfinished uploads).
    pub async fn storage_held(&self) -> anyhow::Result<u64> {
        let row = sqlx::query("SELECT held_bytes FROM storage_use WHERE name = 'server'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("held_bytes")?.max(0) as u64)
    }
}

/// Charges `bytes` of upload `upload_id` to everything `admission` names, on `conn`
/// inside the caller's transaction. Returns the token the upload counts against.
pub(super) async fn admit_in(
    conn: &mut AnyConnection,
    upload_id: &str,
    bytes: u64,
    admission: &Admission,
    now: i64,
) -> anyhow::Result<Result<Option<String>, AdmitRefused>> {
    let n = bytes as i64;
    let mut token_id = admission.token_id.clone();
    if let Some(invitation) = &admission.invitation_id {
        let query = sqlx::query(
            "UPDATE invitations SET upload_id = $1 WHERE id = $2 AND upload_id IS NULL \
             AND revoked_at IS NULL AND expires_at > $3 AND max_bytes >= $4 RETURNING token_id",
        )
        .bind(upload_id)
        .bind(invitation)
        .bind(now)
        .bind(n);
        let Some(row) = returning(query, &mut *conn).await? else {
            return Ok(Err(AdmitRefused::InvitationUnusable));
        };
        token_id = row.try_get("token_id")?;
    }
    if let Some(token) = &token_id {
        let query = sqlx::query(
            "UPDATE upload_tokens SET held_bytes = held_bytes + $1 WHERE id = $2 \
             AND revoked_at IS NULL AND (quota_bytes IS NULL OR held_bytes + $1 <= quota_bytes) \
             RETURNING id",
        )
        .bind(n)
        .bind(token);
        if returning(query, &mut *conn).await?.is_none() {
            return Ok(Err(token_refusal(conn, token).await?));
        }
    }
    let quota = admission.server_quota.map_or(-1, |q| q as i64);
    let query = sqlx::query(
        "UPDATE storage_use SET held_bytes = held_bytes + $1 WHERE name = 'server' \
         AND ($2 < 0 OR held_bytes + $1 <= $2) RETURNING held_bytes",
    )
    .bind(n)
    .bind(quota);
    if returning(query, &mut *conn).await?.is_none() {
        let held = sqlx::query("SELECT held_bytes FROM storage_use WHERE name = 'server'")
            .fetch_one(&mut *conn)
            .await?
            .try_get::<i64, _>("held_bytes")?;
        return Ok(Err(AdmitRefused::ServerQuota {
            held: held.max(0) as u64,
            quota: quota as u64,
        }));
    }
    Ok(Ok(token_id))
}

/// Why token `id` refused a charge (read inside the transaction, only for the message).
async fn token_refusal(conn: &mut AnyConnection, id: &str) -> anyhow::Result<AdmitRefused> {
    let row = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM upload_tokens WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row.as_ref().map(token_from_row).transpose()? {
        Some(TokenRow {
            revoked_at: None,
            quota_bytes: Some(quota),
            held_bytes,
            ..
        }) => AdmitRefused::TokenQuota {
            held: held_bytes,
            quota,
        },
        _ => AdmitRefused::TokenRevoked,
    })
}

/// Gives `bytes` held for a share or upload back to the token `token_id` (if any) and to
/// the server, on `conn` inside the caller's transaction that removes it.
pub(super) async fn release_in(
    conn: &mut AnyConnection,
    bytes: i64,
    token_id: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(token) = token_id {
        sqlx::query("UPDATE upload_tokens SET held_bytes = held_bytes - $1 WHERE id = $2")
            .bind(bytes)
            .bind(token)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE storage_use SET held_bytes = held_bytes - $1 WHERE name = 'server'")
        .bind(bytes)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
