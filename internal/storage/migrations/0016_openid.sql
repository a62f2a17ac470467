-- OpenID tokens a user asks for to prove its identity to a third party
-- (Element Call's SFU), stored hashed like access tokens.
CREATE TABLE openid_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
