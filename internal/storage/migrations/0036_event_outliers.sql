-- Outliers: events of a room held without their place in its DAG, such as
-- the state and auth chain another server answers a join with. They are
-- stored at negative stream positions, hold no state group of their own,
-- are read by the server's checks (auth, state groups, current state) and
-- never listed to clients as timeline events.
ALTER TABLE events ADD COLUMN outlier BOOLEAN NOT NULL DEFAULT FALSE;
