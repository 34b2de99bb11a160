-- Protocol 2: uploads are sessions in the database and their ciphertext is stored as
-- index-addressed segments (one object each), so any server process sharing the database
-- and the store can continue an upload after a lost connection.

-- How a share's ciphertext is stored: 0 for one blob (shares made before protocol 2),
-- otherwise the number of chunks per segment object.
ALTER TABLE shares ADD COLUMN segment_chunks BIGINT NOT NULL DEFAULT 0;

-- One row per upload, written before any byte is stored. It becomes a share with one
-- conditional UPDATE (committed 0 -> 1) in the same transaction that inserts the share;
-- a committed row stays until abandon_at so that a retried commit answers again.
CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    upload_verifier BYTEA  NOT NULL,
    owner_verifier  BYTEA  NOT NULL,
    header          BYTEA  NOT NULL,
    metadata        BYTEA  NOT NULL,
    verifier        BYTEA  NOT NULL,
    ciphertext_size BIGINT NOT NULL,
    max_downloads   BIGINT NOT NULL,
    expires_in_ms   BIGINT NOT NULL,
    segment_chunks  BIGINT NOT NULL,
    segments        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    abandon_at      BIGINT NOT NULL,
    committed       BIGINT NOT NULL DEFAULT 0,
    expires_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX uploads_abandon_at ON uploads (abandon_at);

-- One row per stored segment, inserted only once its object is durable. The hash lets a
-- resent segment be compared with the stored one without reading it back.
CREATE TABLE segments (
    share_id TEXT   NOT NULL,
    idx      BIGINT NOT NULL,
    size     BIGINT NOT NULL,
    sha256   BYTEA  NOT NULL,
    PRIMARY KEY (share_id, idx)
);
