-- Other servers' signing keys, as fetched from them or from a notary.
-- A key the server still publishes has expired_ts 0 and is valid until
-- valid_until_ts; a key it lists as old has the expired_ts it gave. Keys
-- are kept when a server stops listing them, so old events stay
-- verifiable.
CREATE TABLE server_keys (
    server_name    TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    expired_ts     BIGINT NOT NULL,
    fetched_ts     BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- The last signed answer of each server's /_matrix/key/v2/server, which
-- this server serves again, with its own signature added, as a notary.
CREATE TABLE server_key_responses (
    server_name    TEXT PRIMARY KEY,
    response       TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    fetched_ts     BIGINT NOT NULL
);
