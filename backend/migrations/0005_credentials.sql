-- Who may upload and how much (issue 15).
--
-- Upload tokens the operator issues, and invitations a token holder hands to someone
-- without one. Both are stored as a public handle and a verifier of their secret, never
-- the secret. `held_bytes` counts the ciphertext of a token's live shares and unfinished
-- uploads (its invitations' included); it goes up in the transaction that admits an
-- upload, with one conditional UPDATE that checks the quota, and down in the transaction
-- that removes the share or the abandoned upload.
CREATE TABLE upload_tokens (
    id          TEXT PRIMARY KEY,
    label       TEXT   NOT NULL,
    verifier    BYTEA  NOT NULL,
    quota_bytes BIGINT,
    held_bytes  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- An invitation allows one file of at most `max_bytes` of ciphertext until `expires_at`.
-- `upload_id` is set by the conditional UPDATE that admits its upload (so a second
-- upload with it is refused); an abandoned upload sets it back to NULL. `token_id` is the
-- token whose quota its file counts against (NULL when the operator made it).
CREATE TABLE invitations (
    id         TEXT PRIMARY KEY,
    token_id   TEXT,
    verifier   BYTEA  NOT NULL,
    max_bytes  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    upload_id  TEXT,
    revoked_at BIGINT
);

-- Ciphertext bytes held by the whole server (live shares and unfinished uploads), for
-- --storage-quota; kept like a token's held_bytes.
CREATE TABLE storage_use (
    name       TEXT PRIMARY KEY,
    held_bytes BIGINT NOT NULL
);
INSERT INTO storage_use (name, held_bytes)
SELECT 'server',
       COALESCE((SELECT SUM(ciphertext_size) FROM shares), 0)
     + COALESCE((SELECT SUM(ciphertext_size) FROM uploads WHERE committed = 0), 0);

-- The token an upload and its share count against (NULL: uploaded without one).
ALTER TABLE uploads ADD COLUMN token_id TEXT;
ALTER TABLE shares ADD COLUMN token_id TEXT;
