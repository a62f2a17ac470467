-- Accounts: users of three kinds (user, guest, named_guest), their
-- profiles, devices and hashed access tokens, registration tokens, and the
-- counters that number guests.
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    localpart     TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    password_hash TEXT,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    deactivated   BOOLEAN NOT NULL DEFAULT FALSE,
    created_ts    BIGINT NOT NULL,
    upgraded_ts   BIGINT,
    last_seen_ts  BIGINT NOT NULL
);
CREATE INDEX users_kind_last_seen ON users (kind, last_seen_ts);

CREATE TABLE profiles (
    user_id     TEXT PRIMARY KEY REFERENCES users (user_id),
    displayname TEXT,
    avatar_url  TEXT
);

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    device_id    TEXT NOT NULL,
    display_name TEXT,
    created_ts   BIGINT NOT NULL,
    last_seen_ts BIGINT,
    last_seen_ip TEXT,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

CREATE TABLE registration_tokens (
    token        TEXT PRIMARY KEY,
    uses_allowed BIGINT,
    completed    BIGINT NOT NULL DEFAULT 0,
    expiry_ts    BIGINT,
    created_ts   BIGINT NOT NULL
);

-- Named counters used as sequences on both databases:
-- UPDATE ... SET value = value + 1 RETURNING value.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('guest_localpart', 0);
