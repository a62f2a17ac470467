-- Self-destructing messages (MSC2228): when an event is to lose its
-- content. Cleared once the stored JSON has been pruned.
ALTER TABLE events ADD COLUMN expires_ts BIGINT;
CREATE INDEX events_pending_expiry ON events (expires_ts) WHERE expires_ts IS NOT NULL;
