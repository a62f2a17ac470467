-- The processes serving this database, seen through their heartbeats,
-- and the leases that make one of them do what only one may do. A
-- process is named by the instance ID kept in its data dir, so a process
-- restarted on the same data dir is the same instance.
CREATE TABLE cluster_processes (
    instance_id  TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    addresses    TEXT NOT NULL,
    started_ts   BIGINT NOT NULL,
    heartbeat_ts BIGINT NOT NULL
);

CREATE TABLE cluster_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ts BIGINT NOT NULL
);
