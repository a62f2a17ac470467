-- Where in the room a receipt's event is, so a receipt never moves back
-- to an earlier event. Receipts stored before this count as position 0.
ALTER TABLE receipts ADD COLUMN event_pos BIGINT;
