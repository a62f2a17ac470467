-- Each room's newest event of a type that moves it up a client's room
-- list (simplified sliding sync, MSC4186): a message, an encrypted event,
-- a sticker, a call invite, a poll or location share start, or the
-- room's creation. Kept on write so a sliding sync orders a user's rooms
-- from one row per room instead of reading their timelines.
CREATE TABLE room_bump_stamps (
    room_id    TEXT PRIMARY KEY,
    stream_pos BIGINT NOT NULL
) {{without_rowid}};

INSERT INTO room_bump_stamps (room_id, stream_pos)
    SELECT room_id, MAX(stream_pos) FROM events
    WHERE type IN ('m.room.create', 'm.room.message', 'm.room.encrypted', 'm.sticker', 'm.call.invite',
            'org.matrix.msc3381.poll.start', 'm.poll.start', 'm.beacon_info', 'org.matrix.msc3672.beacon_info')
        AND stream_pos > 0 AND rejected = FALSE AND soft_failed = FALSE AND outlier = FALSE
    GROUP BY room_id;
