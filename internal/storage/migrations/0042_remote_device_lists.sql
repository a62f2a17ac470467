-- Other servers' users' device lists, kept once a local user shares a
-- room with them and kept current by their m.device_list_update and
-- m.signing_key_update EDUs. stream_id is the remote server's position of
-- the list, which the next update's prev_id must name; a stale list (a gap
-- was seen) is fetched again before it is served.
CREATE TABLE remote_device_lists (
    user_id          TEXT PRIMARY KEY,
    stream_id        BIGINT NOT NULL,
    stale            BOOLEAN NOT NULL,
    master_key       TEXT,
    self_signing_key TEXT,
    updated_ts       BIGINT NOT NULL
);

CREATE TABLE remote_device_keys (
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    display_name TEXT,
    key_json     TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- What this server last told other servers of a local user's devices:
-- the user's own stream_id (each m.device_list_update takes the next)
-- and a digest of each device's published keys and name, so a change is
-- sent as the difference from it.
CREATE TABLE device_list_published (
    user_id   TEXT PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    devices   TEXT NOT NULL,
    signing   TEXT NOT NULL
);
