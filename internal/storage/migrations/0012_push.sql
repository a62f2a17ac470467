-- Push rules and pushers.
--
-- A user's push rules are stored as one JSON document per user, written
-- by internal/push: the user's own rules in order and their changes
-- (enabled, actions) to server-default rules. Users who changed nothing
-- have no row and get the server defaults. stream_pos is the position of
-- the latest change, so /sync can tell when to send m.push_rules.
CREATE TABLE push_rules (
    user_id    TEXT PRIMARY KEY,
    rules      TEXT NOT NULL,
    stream_pos BIGINT NOT NULL
);
CREATE INDEX push_rules_pos ON push_rules (stream_pos);

-- Pushers, one per (user, app_id, pushkey). device_id is the device whose
-- token set it, so its pushers can go when it logs out. data is the JSON
-- object the client gave (url, format and custom keys).
CREATE TABLE pushers (
    user_id             TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    device_id           TEXT NOT NULL DEFAULT '',
    kind                TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT NOT NULL DEFAULT '',
    lang                TEXT NOT NULL,
    data                TEXT NOT NULL,
    created_ts          BIGINT NOT NULL,
    PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey);
CREATE INDEX pushers_device ON pushers (user_id, device_id);
