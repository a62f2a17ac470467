-- End-to-end encryption: device, one-time and fallback keys, cross-signing
-- keys and the signatures uploaded on keys, the device-list change log,
-- to-device messages, and server-side room key backups. Key objects are
-- kept as the client signed them, in canonical JSON.
CREATE TABLE e2e_device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Each one-time key is handed out once: a claim deletes its row.
CREATE TABLE e2e_one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- One fallback key per device and algorithm, handed out (and marked used)
-- when the one-time keys run out.
CREATE TABLE e2e_fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- key_type is master, self_signing or user_signing.
CREATE TABLE e2e_cross_signing_keys (
    user_id    TEXT NOT NULL,
    key_type   TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures from /keys/signatures/upload. target_key_id is a device ID
-- or a cross-signing public key; signer_key_id is "ed25519:...".
CREATE TABLE e2e_signatures (
    target_user_id TEXT NOT NULL,
    target_key_id  TEXT NOT NULL,
    signer_user_id TEXT NOT NULL,
    signer_key_id  TEXT NOT NULL,
    signature      TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

-- The device-list change log: the latest position at which a user's
-- devices or keys changed. visible_to is '' for a change every room-mate
-- sees, or the one user it concerns (a user-signing signature).
CREATE TABLE device_list_changes (
    user_id    TEXT NOT NULL,
    visible_to TEXT NOT NULL DEFAULT '',
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, visible_to)
);
CREATE INDEX device_list_changes_pos ON device_list_changes (stream_pos);

-- To-device messages wait here until the device acknowledges them.
CREATE TABLE to_device_messages (
    id         {{serial_pk}},
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    sender     TEXT NOT NULL,
    type       TEXT NOT NULL,
    content    TEXT NOT NULL
);
CREATE INDEX to_device_messages_device ON to_device_messages (user_id, device_id, stream_pos);

-- Transaction IDs of sendToDevice, per sending device, for idempotency;
-- stream_pos also keeps the stream above delivered-and-deleted messages.
CREATE TABLE to_device_txns (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Key backup versions; a deleted version keeps its row so its number is
-- never reused. etag counts the changes to its keys.
CREATE TABLE e2e_room_key_versions (
    user_id   TEXT NOT NULL,
    version   BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    auth_data TEXT NOT NULL,
    etag      BIGINT NOT NULL DEFAULT 0,
    deleted   BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE e2e_room_keys (
    user_id             TEXT NOT NULL,
    version             BIGINT NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index BIGINT NOT NULL,
    forwarded_count     BIGINT NOT NULL,
    is_verified         BOOLEAN NOT NULL,
    session_data        TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);
