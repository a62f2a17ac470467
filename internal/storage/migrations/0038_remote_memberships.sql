-- Memberships of local users in rooms this server is not in, known from
-- another server: an invite received over federation (PUT /invite), a
-- knock sent through another server, and the leave that rejected or
-- retracted one. One row per user and room, the latest replacing the
-- earlier; /sync shows it until the user's membership in the room's own
-- state here is newer. servers are the ones to ask for the room (JSON).
CREATE TABLE remote_memberships (
    user_id        TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    membership     TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    room_version   TEXT NOT NULL,
    event_json     TEXT NOT NULL,
    stripped_state TEXT NOT NULL,
    servers        TEXT NOT NULL,
    stream_pos     BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
