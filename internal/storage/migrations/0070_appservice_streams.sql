-- Where each application service is in the stream of events: sent_pos is
-- the stream position up to which everything it should see has been
-- delivered; next_txn numbers its next transaction. A transaction built
-- but not yet accepted is kept whole (pending_*), so after a restart or
-- an outage the service gets the same ID with the same events, and sees
-- each event once, in order.
CREATE TABLE appservice_streams (
    appservice_id TEXT PRIMARY KEY,
    sent_pos      BIGINT NOT NULL,
    next_txn      BIGINT NOT NULL,
    pending_txn   BIGINT,
    pending_upto  BIGINT,
    pending_body  TEXT
);

-- The room directories of application services' networks
-- (PUT /directory/list/appservice/{networkId}/{roomId}).
CREATE TABLE appservice_room_directory (
    room_id       TEXT NOT NULL,
    appservice_id TEXT NOT NULL,
    network_id    TEXT NOT NULL,
    PRIMARY KEY (room_id, appservice_id, network_id)
);
