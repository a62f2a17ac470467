package server

import "foyer/internal/storage"

// postgresCommitLanes is how many group commits of messages run at once
// on PostgreSQL: rooms spread over them, and the pool's other connections
// are left to every other write and read.
const postgresCommitLanes = 8

// commitLanes is rooms.Options.CommitLanes for the database: SQLite's one
// writer takes one transaction at a time, so one lane lets every room
// share each commit.
func commitLanes(d storage.Dialect) int {
	if d == storage.Postgres {
		return postgresCommitLanes
	}
	return 1
}
