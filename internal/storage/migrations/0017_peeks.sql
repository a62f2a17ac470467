-- Rooms a device peeks into (MSC2753): world_readable rooms it follows in
-- sync without joining. stream_pos orders the peek against the device's
-- sync tokens and the user's membership changes.
CREATE TABLE room_peeks (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, room_id)
);
CREATE INDEX room_peeks_room ON room_peeks (room_id);
