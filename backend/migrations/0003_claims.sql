-- Claims that resume (issue 13). A download's claim belongs to whoever holds its claim
-- token (the server keeps only its verifier) until it commits or its lease ends.
--
-- `delivered` becomes `held`: 1 once the server sent a chunk past the claim's first window
-- or its final chunk. A held claim is never handed to anyone else; when its lease runs
-- out it counts as a download (its slot is deleted) instead of coming free. Rows marked
-- delivered by an older server (its last chunk went out) mean the same thing.
ALTER TABLE download_slots RENAME COLUMN delivered TO held;

-- verifier(claim token); NULL while the slot is free. `claim_id` now names the connection
-- serving the claim, so a resumed connection takes the claim over from a stale one.
ALTER TABLE download_slots ADD COLUMN claim_verifier BYTEA;
