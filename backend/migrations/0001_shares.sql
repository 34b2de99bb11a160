-- Ferry's metadata. Valid on SQLite and PostgreSQL through sqlx's Any driver:
-- times are epoch milliseconds (BIGINT), flags are 0/1 BIGINT, bytes are BYTEA.

-- One row per committed share. Rows only appear after the blob is durable.
CREATE TABLE shares (
    id              TEXT PRIMARY KEY,
    header          BYTEA  NOT NULL,
    metadata        BYTEA  NOT NULL,
    verifier        BYTEA  NOT NULL,
    owner_verifier  BYTEA  NOT NULL,
    ciphertext_size BIGINT NOT NULL,
    max_downloads   BIGINT NOT NULL,
    attempts_left   BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX shares_expires_at ON shares (expires_at);

-- One row per download the share still allows. A download claims a free slot
-- (lease_until <= now and delivered = 0) with one conditional UPDATE, renews the lease
-- while it streams, marks it delivered before the last chunk and deletes it when the
-- download counts. A claim whose lease ran out is free again.
CREATE TABLE download_slots (
    share_id    TEXT   NOT NULL,
    slot        BIGINT NOT NULL,
    claim_id    TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    delivered   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (share_id, slot)
);

-- What is left of a share after it is gone, so its link answers 410 "used up" or
-- "expired" (and its owner can still see it was downloaded) until forget_at.
CREATE TABLE tombstones (
    id             TEXT PRIMARY KEY,
    reason         TEXT   NOT NULL,
    owner_verifier BYTEA  NOT NULL,
    downloads_done BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    forget_at      BIGINT NOT NULL
);
CREATE INDEX tombstones_forget_at ON tombstones (forget_at);
