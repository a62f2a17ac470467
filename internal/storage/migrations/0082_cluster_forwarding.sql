-- Processes that do not hold the writer lease forward requests to the
-- one that does, at the address it publishes in its heartbeat; the
-- shared key proves a forwarded request comes from a process of this
-- database (anyone who can read it is already trusted with everything).
ALTER TABLE cluster_processes ADD COLUMN cluster_address TEXT NOT NULL DEFAULT '';

CREATE TABLE cluster_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL
);
