-- The full-text index of POST /search: one row per event shown to
-- clients whose searchable text is a string (m.room.message's
-- content.body, m.room.name's content.name, m.room.topic's
-- content.topic), keyed by the event's stream position. SQLite keeps it in
-- an FTS5 table that stores no copy of the text (the events table has
-- it); PostgreSQL in a tsvector column with a GIN index. Rows are written
-- with the event and deleted when it is redacted (storage/search.go).
{{create_event_search}};

-- Index the events stored before this migration.
INSERT INTO event_search ({{event_search_columns}})
SELECT t.stream_pos, {{event_search_value}}
FROM (SELECT stream_pos,
             CASE type WHEN 'm.room.message' THEN {{content_text_body}}
                       WHEN 'm.room.name' THEN {{content_text_name}}
                       ELSE {{content_text_topic}} END AS text
      FROM events
      WHERE rejected = FALSE AND soft_failed = FALSE AND outlier = FALSE AND redacted_by IS NULL
        AND ((type = 'm.room.message' AND state_key IS NULL)
             OR (type IN ('m.room.name', 'm.room.topic') AND state_key = ''))) t
WHERE t.text IS NOT NULL AND t.text <> '';
