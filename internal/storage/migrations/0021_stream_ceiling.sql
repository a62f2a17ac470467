-- The highest stream position this database has allowed any process to
-- hand out. A position is handed out only once the ceiling above it is
-- committed, so a restart (clean or a crash) starts above every position
-- a sync token may carry, even one whose write stored nothing.
CREATE TABLE stream_ceiling (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    ceiling BIGINT NOT NULL
);
INSERT INTO stream_ceiling (id, ceiling) VALUES (1, 0);
