-- The room's current state after an event, when it is not the event's own
-- state_group: a received event that leaves several forward extremities
-- makes the current state the resolution of their states, which may differ
-- from the state on the event's branch. NULL (nearly always) means the
-- event's state_group is the room's state after it. /sync reads the state
-- a client had at a token from here.
ALTER TABLE events ADD COLUMN resolved_group BIGINT;
