-- Rename upgrades (internal/guest/rename.go). The row is written in the
-- transaction that creates the new account and claims the guest
-- (users.upgraded_ts set on the guest's row, which an in-place upgrade
-- of the same guest then cannot match), so a rename cut short by a crash
-- is known and finished: at the next start (state moving -> moved: the
-- rooms are moved, the guest waits for its client) or when the guest
-- repeats the same request (-> done: a token for the new account, the
-- guest deactivated).
CREATE TABLE guest_renames (
    guest_user_id TEXT PRIMARY KEY,
    new_user_id   TEXT NOT NULL,
    -- The new account's device, when the rename logged in (NULL with
    -- inhibit_login): a retry issues its token for the same device.
    new_device_id TEXT,
    state         TEXT NOT NULL,
    created_ts    BIGINT NOT NULL,
    updated_ts    BIGINT NOT NULL
);
CREATE INDEX guest_renames_state ON guest_renames (state, created_ts);

-- The rooms a rename has moved, so a rename finished in several steps
-- still answers with all of them.
CREATE TABLE guest_renamed_rooms (
    guest_user_id TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    PRIMARY KEY (guest_user_id, room_id)
);
