-- One-time keys are claimed in the order they were uploaded (MSC4225):
-- each upload's keys get the next number for their device; keys stored
-- before keep 0 and go first, in key ID order as before.
ALTER TABLE e2e_one_time_keys ADD COLUMN upload_seq BIGINT NOT NULL DEFAULT 0;
