-- A room is a DAG of events, not one chain. This migration adds what the
-- DAG needs and carries the existing rooms, which are linear chains, over:
-- their one forward extremity is the latest event, their events' depths
-- are already their order, and their state groups are built from the
-- state the old model derived from arrival order. The layout of state
-- groups is described in internal/storage/stategroups.go.

-- The events no other event of the room points at yet (prev_events of the
-- next local event), with their depths.
CREATE TABLE room_extremities (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    depth    BIGINT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
INSERT INTO room_extremities (room_id, event_id, depth)
SELECT room_id, latest_event_id, depth FROM rooms;

-- A state group is a room state: full (prev_id NULL, chain_len 0) or the
-- entries that differ from prev_id (chain_len = prev's + 1). An entry with
-- event_id '' removes its key.
CREATE TABLE state_groups (
    id        BIGINT PRIMARY KEY,
    room_id   TEXT NOT NULL,
    prev_id   BIGINT,
    chain_len INTEGER NOT NULL
);
CREATE TABLE state_group_entries (
    group_id  BIGINT NOT NULL,
    type      TEXT NOT NULL,
    state_key TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, type, state_key)
);

-- Events: the state after each (state_group), and the two kinds of event
-- that are stored but never shown to clients.
ALTER TABLE events ADD COLUMN state_group BIGINT;
ALTER TABLE events ADD COLUMN rejected BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN soft_failed BOOLEAN NOT NULL DEFAULT FALSE;
-- /messages and /context page through rooms in topological order.
CREATE INDEX events_room_topo ON events (room_id, depth, stream_pos);

ALTER TABLE rooms ADD COLUMN state_group BIGINT;

-- Existing data.
-- Each state event makes a group named by its own stream position. Every
-- 32nd state event of a room gets a full group, the others a one-entry
-- delta on the previous state event's group. The index makes "the latest
-- state event at or before P" a lookup while the groups are built.
CREATE INDEX events_state_by_pos ON events (room_id, stream_pos) WHERE state_key IS NOT NULL;
INSERT INTO state_groups (id, room_id, prev_id, chain_len)
SELECT stream_pos, room_id,
       CASE WHEN (rn - 1) % 32 = 0 THEN NULL ELSE prev END,
       (rn - 1) % 32
FROM (SELECT stream_pos, room_id,
             ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY stream_pos) AS rn,
             LAG(stream_pos) OVER (PARTITION BY room_id ORDER BY stream_pos) AS prev
      FROM events WHERE state_key IS NOT NULL) s;

INSERT INTO state_group_entries (group_id, type, state_key, event_id)
SELECT g.id, e.type, e.state_key, e.event_id
FROM state_groups g JOIN events e ON e.stream_pos = g.id
WHERE g.prev_id IS NOT NULL;

INSERT INTO state_group_entries (group_id, type, state_key, event_id)
SELECT g.id, e.type, e.state_key, e.event_id
FROM state_groups g JOIN events e ON e.room_id = g.room_id AND e.state_key IS NOT NULL
WHERE g.prev_id IS NULL AND e.stream_pos = (
    SELECT MAX(e2.stream_pos) FROM events e2
    WHERE e2.room_id = e.room_id AND e2.type = e.type AND e2.state_key = e.state_key AND e2.stream_pos <= g.id);

UPDATE events SET state_group = (
    SELECT MAX(e2.stream_pos) FROM events e2
    WHERE e2.room_id = events.room_id AND e2.state_key IS NOT NULL AND e2.stream_pos <= events.stream_pos);

UPDATE rooms SET state_group = (
    SELECT MAX(e.stream_pos) FROM events e WHERE e.room_id = rooms.room_id AND e.state_key IS NOT NULL);

DROP INDEX events_state_by_pos;
