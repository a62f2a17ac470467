-- Relationships between events: an event whose content has m.relates_to
-- with a rel_type and an event_id is a child of that event. Recorded when
-- the child is stored, for /relations, /threads and the bundled
-- aggregations (unsigned.m.relations). Each event has at most one
-- m.relates_to, so the child is the key.
CREATE TABLE event_relations (
    child_event_id  TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL,
    parent_event_id TEXT NOT NULL,
    rel_type        TEXT NOT NULL,
    child_type      TEXT NOT NULL,
    stream_pos      BIGINT NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (parent_event_id, rel_type, stream_pos);
CREATE INDEX event_relations_room ON event_relations (room_id, rel_type, stream_pos);

-- /timestamp_to_event looks events up by time.
CREATE INDEX events_room_ts ON events (room_id, origin_server_ts, stream_pos);

-- Index the relations of events stored before this migration.
INSERT INTO event_relations (child_event_id, room_id, parent_event_id, rel_type, child_type, stream_pos)
SELECT event_id, room_id, {{relates_to_event_id}}, {{relates_to_rel_type}}, type, stream_pos
FROM events
WHERE redacted_by IS NULL AND json LIKE '%m.relates_to%' AND {{relates_to_valid}};
