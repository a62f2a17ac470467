-- Guests: room guest links, and the queue of removed guests whose rooms
-- the server still has to leave for them.
--
-- A guest link lets whoever redeems it register as a guest joined to
-- room_id. The token is stored as given out (room members list and revoke
-- links by it). max_uses NULL: unlimited; expires_ts NULL: never;
-- revoked_ts set: revoked (the row stays, so the link answers "no longer
-- valid" rather than "unknown").
CREATE TABLE guest_links (
    token      TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL,
    creator    TEXT NOT NULL,
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0,
    expires_ts BIGINT,
    created_ts BIGINT NOT NULL,
    revoked_ts BIGINT
);
CREATE INDEX guest_links_room ON guest_links (room_id, created_ts);

-- Guests deactivated by expiry or an admin whose rooms are still to be
-- left (by the serving process, which owns the rooms' state).
CREATE TABLE guest_pending_leaves (
    user_id   TEXT PRIMARY KEY,
    queued_ts BIGINT NOT NULL
);
