-- A user's rooms as a sliding sync room list reads them, answered from
-- the index alone: one entry per room, no table row to visit.
CREATE INDEX current_state_user_rooms ON current_state (state_key, type, room_id, membership, stream_pos, event_id)
    WHERE type = 'm.room.member';
