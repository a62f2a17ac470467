-- This server's own signing key, so that every process serving the
-- database signs with the same one. key_line is the key in the one-line
-- format of a signing.key file ("ed25519 <version> <seed>"). Only one row
-- ever exists; the first process to start stores it.
CREATE TABLE own_signing_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_line   TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
