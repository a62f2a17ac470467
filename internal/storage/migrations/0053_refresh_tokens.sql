-- Refresh tokens (client-server API, "Refreshing access tokens"): a
-- client that asks for one at login or registration gets an access token
-- that expires and a refresh token that replaces both. A device has one
-- chain: the current refresh token and, until the tokens that replaced it
-- are first used, its predecessor (next_token_hash names the successor),
-- so a client that lost a refresh answer can repeat the refresh. Tokens
-- are stored as hashes only, as access tokens are.
CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    next_token_hash TEXT,
    created_ts      BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_next ON refresh_tokens (next_token_hash);

-- An access token issued with a refresh token: the refresh token it came
-- with, when it stops working (NULL: never, every other token), and
-- whether it has been used (its first use retires the predecessor).
ALTER TABLE access_tokens ADD COLUMN refresh_token_hash TEXT;
ALTER TABLE access_tokens ADD COLUMN expires_ts BIGINT;
ALTER TABLE access_tokens ADD COLUMN used BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_hash);
