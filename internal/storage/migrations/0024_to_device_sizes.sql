-- The size of each pending to-device message as sync delivers it
-- ({"type":..,"sender":..,"content":..}), so a sync takes no more than its
-- byte budget and a device's queue can be capped in bytes. The index
-- covers the sum of a device's queue.
ALTER TABLE to_device_messages ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE to_device_messages SET size_bytes = 34 + length(type) + length(sender) + length(content);
DROP INDEX to_device_messages_device;
CREATE INDEX to_device_messages_device ON to_device_messages (user_id, device_id, stream_pos, size_bytes);
