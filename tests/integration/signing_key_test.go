package integration

import (
	"os"
	"path/filepath"
	"testing"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// publishedKeyIDs are the key IDs a server publishes at
// /_matrix/key/v2/server.
func publishedKeyIDs(t *testing.T, hs *testharness.Homeserver) []string {
	t.Helper()
	r := hs.Do(t, "GET", "/_matrix/key/v2/server", "", nil)
	keys, _ := r.JSON["verify_keys"].(map[string]any)
	if r.Status != 200 || len(keys) == 0 {
		t.Fatalf("/_matrix/key/v2/server: %s", r)
	}
	var ids []string
	for id := range keys {
		ids = append(ids, id)
	}
	return ids
}

func writeKeyFile(t *testing.T, dir string, key *matrixevents.SigningKey) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, matrixevents.SigningKeyFile), []byte(key.Line()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The signing key lives in the database: a signing.key file found in the
// data dir on the first start is taken in (a key brought from another
// server keeps working), later files do not replace it, and a server
// with another data dir on the same database signs with the same key —
// what several processes on one PostgreSQL need.
func TestSigningKeyKeptInTheDatabase(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		brought := keyWithID(t, "ed25519:a_brought")
		writeKeyFile(t, cfg.DataDir, brought)
		hs := testharness.Start(t, cfg)
		if ids := publishedKeyIDs(t, hs); len(ids) != 1 || ids[0] != brought.KeyID() {
			t.Fatalf("first start published %v, want the key of the data dir's file %s", ids, brought.KeyID())
		}
		if hs.SigningKey(t).Line() != brought.Line() {
			t.Fatal("the server does not sign with the key brought in its data dir")
		}

		// Another file appears: the database's key stays.
		writeKeyFile(t, cfg.DataDir, keyWithID(t, "ed25519:a_other"))
		hs.Stop(t)
		hs.Resume(t)
		if ids := publishedKeyIDs(t, hs); len(ids) != 1 || ids[0] != brought.KeyID() {
			t.Fatalf("after a restart with another key file the server published %v, want %s", ids, brought.KeyID())
		}
		if backend != "postgres" {
			return
		}

		// Another process's data dir, no key file, same database.
		hs.Stop(t)
		cfg2 := cfg
		cfg2.DataDir = t.TempDir()
		other := testharness.Start(t, cfg2)
		if ids := publishedKeyIDs(t, other); len(ids) != 1 || ids[0] != brought.KeyID() {
			t.Fatalf("a server with its own data dir on the same database published %v, want %s", ids, brought.KeyID())
		}
		if _, err := os.Stat(filepath.Join(cfg2.DataDir, matrixevents.SigningKeyFile)); err == nil {
			t.Error("a key file was written to the second data dir; the key's home is the database")
		}
	})
}

// A new server without a key file makes a key, stores it, and keeps it
// across restarts without writing a file.
func TestSigningKeyCreatedOnce(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		first := publishedKeyIDs(t, hs)
		line := hs.SigningKey(t).Line()
		hs.Stop(t)
		hs.Resume(t)
		if again := publishedKeyIDs(t, hs); len(again) != 1 || again[0] != first[0] || hs.SigningKey(t).Line() != line {
			t.Fatalf("key changed across a restart: %v then %v", first, again)
		}
	})
}
