-- The answers given to other servers' transactions (PUT
-- /_matrix/federation/v1/send/{txnId}), so a retried transaction is
-- answered as before without being processed again. Answers older than a
-- day are deleted as new ones are written: a server retries a
-- transaction within minutes, and before it sends its next one.
CREATE TABLE federation_transactions (
    origin      TEXT NOT NULL,
    txn_id      TEXT NOT NULL,
    answer      TEXT NOT NULL,
    received_ts BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_transactions_received ON federation_transactions (received_ts);
