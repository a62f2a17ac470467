-- Push notifications (internal/pushsender).
--
-- push_notifications: each event that notified a local user under their
-- push rules, for GET /notifications and the badge count; actions are
-- those of the deciding rule. One per user and event (stream_pos).
-- event_json and room_name are kept only for an event not in a room's
-- timeline here: an invite into a room this server is not in.
CREATE TABLE push_notifications (
    user_id    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    room_id    TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    highlight  BOOLEAN NOT NULL,
    actions    TEXT NOT NULL,
    ts         BIGINT NOT NULL,
    event_json TEXT,
    room_name  TEXT,
    PRIMARY KEY (user_id, stream_pos)
);
CREATE INDEX push_notifications_user_room ON push_notifications (user_id, room_id, stream_pos);
CREATE INDEX push_notifications_ts ON push_notifications (ts);

-- What each HTTP pusher still has to send, in order (position): a
-- notification (stream_pos of its event) or a badge update (stream_pos 0).
-- Deleted once the gateway answered, or given up on.
CREATE TABLE push_queue (
    position   {{serial_pk}},
    user_id    TEXT NOT NULL,
    app_id     TEXT NOT NULL,
    pushkey    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX push_queue_pusher ON push_queue (user_id, app_id, pushkey, position);

-- How far the event stream has been turned into notifications. Written in
-- the transaction that writes them, so a restart resumes where the last
-- one stopped; it starts at the newest event, so history is not pushed.
CREATE TABLE push_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    stream_pos BIGINT NOT NULL
);
INSERT INTO push_cursor (id, stream_pos) SELECT 1, COALESCE(MAX(stream_pos), 0) FROM events;
