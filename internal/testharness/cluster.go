package testharness

import (
	"testing"

	"foyer/internal/config"
)

// StartCluster runs n processes on cfg's PostgreSQL database, one after
// another, each with its own data dir: the first holds the writer lease,
// the others follow it.
func StartCluster(t testing.TB, cfg config.Config, n int) []*Homeserver {
	t.Helper()
	if cfg.DatabaseURL == "" {
		t.Fatal("StartCluster needs a PostgreSQL database")
	}
	out := make([]*Homeserver, n)
	for i := range out {
		c := cfg
		if i > 0 {
			c.DataDir = t.TempDir()
		}
		out[i] = Start(t, c)
	}
	return out
}
