-- Outliers: events fetched from other servers only for what they are (the
-- state or auth chain of an event whose prev_events this server lacks),
-- not for their place in the room's timeline. They are stored for auth
-- and state, at negative stream positions, and never shown to clients.
ALTER TABLE events ADD COLUMN outlier BOOLEAN NOT NULL DEFAULT FALSE;
