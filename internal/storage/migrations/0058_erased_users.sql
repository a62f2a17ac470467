-- Users who asked, when deactivating, for their messages to be erased
-- (POST /account/deactivate with "erase": true). Their events are served
-- redacted to anyone who was not joined to the room when they were sent,
-- and to every other server.
CREATE TABLE erased_users (
    user_id   TEXT PRIMARY KEY,
    erased_ts BIGINT NOT NULL
);
