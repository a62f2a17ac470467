-- What this server still has to send to each other server: PDUs and EDUs
-- in the order they were queued (position), deleted once the destination
-- accepted the transaction that carried them. A restart resumes from here.
CREATE TABLE federation_queue (
    position    {{serial_pk}},
    destination TEXT NOT NULL,
    kind        TEXT NOT NULL,
    json        TEXT NOT NULL,
    created_ts  BIGINT NOT NULL
);

CREATE INDEX federation_queue_destination ON federation_queue (destination, kind, position);
