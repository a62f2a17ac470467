-- Sync: uploaded filters, and an index to find a user's membership
-- changes by position.
CREATE TABLE filters (
    user_id   TEXT NOT NULL,
    filter_id {{serial_pk}},
    filter    TEXT NOT NULL
);
CREATE INDEX filters_user ON filters (user_id);
CREATE INDEX events_member_by_user ON events (state_key, stream_pos) WHERE type = 'm.room.member';
