// Package integration tests Foyer through its HTTP API, as clients do,
// against real servers on SQLite and on a throwaway PostgreSQL.
package integration

import (
	"testing"

	"foyer/internal/testharness/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
