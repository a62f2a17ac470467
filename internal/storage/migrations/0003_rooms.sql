-- Rooms and their events. Each room on this server is one linear chain of
-- events, so the state at any stream position is the latest state event
-- per (type, state_key) at or before it; current_state keeps the latest
-- for fast lookups.
CREATE TABLE rooms (
    room_id         TEXT PRIMARY KEY,
    room_version    TEXT NOT NULL,
    creator         TEXT NOT NULL,
    created_ts      BIGINT NOT NULL,
    is_public       BOOLEAN NOT NULL DEFAULT FALSE,
    latest_event_id TEXT NOT NULL,
    depth           BIGINT NOT NULL
);

CREATE TABLE events (
    stream_pos         BIGINT PRIMARY KEY,
    event_id           TEXT NOT NULL UNIQUE,
    room_id            TEXT NOT NULL REFERENCES rooms (room_id),
    type               TEXT NOT NULL,
    state_key          TEXT,
    sender             TEXT NOT NULL,
    membership         TEXT,
    -- history_visibility in force when the event was sent (G-27).
    history_visibility TEXT NOT NULL,
    depth              BIGINT NOT NULL,
    origin_server_ts   BIGINT NOT NULL,
    json               TEXT NOT NULL,
    redacted_by        TEXT,
    -- the state event this one replaced, for unsigned.prev_content
    replaces_state     TEXT,
    contains_url       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX events_room_pos ON events (room_id, stream_pos);
CREATE INDEX events_state ON events (room_id, type, state_key, stream_pos) WHERE state_key IS NOT NULL;
CREATE INDEX events_member ON events (room_id, state_key, stream_pos) WHERE type = 'm.room.member';

CREATE TABLE current_state (
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    membership TEXT,
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state (state_key, membership) WHERE type = 'm.room.member';

-- Transaction IDs make sends idempotent per device.
CREATE TABLE txn_ids (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, scope, txn_id)
);
CREATE INDEX txn_ids_event ON txn_ids (event_id);

CREATE TABLE room_aliases (
    alias      TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    creator    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);

-- Rooms a user has forgotten.
CREATE TABLE forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
