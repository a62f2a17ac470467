-- Receipts and account data: the per-user and per-room data /sync
-- delivers beside the timeline. Each row carries the stream_pos of its
-- latest write (positions come from the one shared stream), so sync asks
-- "what changed in (since, to]" with a range scan. A newer write replaces
-- the row and moves it forward in the stream.

-- The latest receipt per (room, type, user, thread). thread_id is '' for
-- an unthreaded receipt, 'main' or a thread root's event ID otherwise.
-- receipt_type is m.read or m.read.private (m.fully_read is account data).
CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    thread_id    TEXT NOT NULL DEFAULT '',
    event_id     TEXT NOT NULL,
    ts           BIGINT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_pos ON receipts (room_id, stream_pos);
CREATE INDEX receipts_pos ON receipts (stream_pos);

-- Account data, global (room_id = '') and per room: one row per
-- (user, room, type) holding the latest content (a JSON object). Room
-- tags are the per-room type m.tag; the fully read marker is m.fully_read.
CREATE TABLE account_data (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL,
    content    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_user_pos ON account_data (user_id, stream_pos);
CREATE INDEX account_data_pos ON account_data (stream_pos);
