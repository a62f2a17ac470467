-- Raises the stream ceiling above every stored position once, so the
-- stream reads only the ceiling at start instead of scanning each table
-- that holds positions (databases from before 0021 kept only the rows).
UPDATE stream_ceiling SET ceiling = (
    SELECT MAX(m) FROM (
        SELECT ceiling AS m FROM stream_ceiling
        UNION ALL SELECT MAX(stream_pos) FROM events
        UNION ALL SELECT MAX(stream_pos) FROM receipts
        UNION ALL SELECT MAX(stream_pos) FROM account_data
        UNION ALL SELECT MAX(stream_pos) FROM presence
        UNION ALL SELECT MAX(stream_pos) FROM push_rules
        UNION ALL SELECT MAX(stream_pos) FROM device_list_changes
        UNION ALL SELECT MAX(stream_pos) FROM to_device_messages
        UNION ALL SELECT MAX(stream_pos) FROM to_device_txns
        UNION ALL SELECT MAX(stream_pos) FROM room_peeks
    ) AS positions
) WHERE id = 1;
