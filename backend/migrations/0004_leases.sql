-- Several server processes (replicas) share one database (issue 14). Work that needs
-- only one of them at a time, such as the periodic sweep of expired shares and orphan
-- objects, is done by whoever holds its lease: a row taken with one conditional UPDATE
-- while it is free or already the taker's, and renewed by its holder. A holder that dies
-- loses it when `until_ms` (the database's clock, in ms since the Unix epoch) passes.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT   NOT NULL,
    until_ms BIGINT NOT NULL
);
INSERT INTO leases (name, holder, until_ms) VALUES ('janitor', '', 0);
