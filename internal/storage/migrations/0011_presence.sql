-- Presence: one row per user, rewritten when the state changes.
CREATE TABLE presence (
    user_id          TEXT PRIMARY KEY,
    presence         TEXT NOT NULL,
    status_msg       TEXT,
    last_active_ts   BIGINT NOT NULL,
    stream_pos       BIGINT NOT NULL
);
CREATE INDEX presence_pos ON presence (stream_pos);
