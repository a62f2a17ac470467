-- The size of each account data entry (its type and content), so an
-- account's total can be capped; the index covers the count and sum.
ALTER TABLE account_data ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE account_data SET size_bytes = length(type) + length(content);
CREATE INDEX account_data_user_size ON account_data (user_id, size_bytes);
