package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"foyer/internal/server"
	"foyer/internal/storage"
	"foyer/internal/testharness"
)

// A second server on a SQLite database that one already serves is
// refused with a message saying why, while operator subcommands still
// work beside the server; once the first stops, the database can be
// served again.
func TestSQLiteRefusesASecondServingProcess(t *testing.T) {
	cfg := testharness.Config(t, "sqlite")
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")

	_, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, storage.ErrAlreadyServed) {
		t.Fatalf("a second server on the same SQLite database: err = %v, want ErrAlreadyServed", err)
	}
	if !strings.Contains(err.Error(), "PostgreSQL") {
		t.Errorf("the refusal does not point to PostgreSQL for several processes: %v", err)
	}

	// Another process: `foyer serve` on the data dir exits non-zero and
	// says why; `foyer user create` works beside the server.
	args := []string{"--data-dir", cfg.DataDir, "--server-name", cfg.ServerName, "--listen", "127.0.0.1:0"}
	p := launchFoyerProc(t, args, foyerEnv())
	state, ok := p.wait(30 * time.Second)
	if !ok {
		t.Fatalf("a second foyer serve on the same data dir kept running\nstdout:\n%s", p.stdout.String())
	}
	if state.ExitCode() == 0 || !strings.Contains(p.stderr.String(), "already serving") {
		t.Fatalf("second foyer serve: exit %d, stderr:\n%s", state.ExitCode(), p.stderr.String())
	}
	if _, stderr, code := runFoyer(t, foyerEnv(), "user", "create", "bob", "--password", "bob-secret-1", "--data-dir", cfg.DataDir, "--server-name", cfg.ServerName); code != 0 {
		t.Fatalf("foyer user create beside the server: exit %d\n%s", code, stderr)
	}
	if r := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "bob"}, "password": "bob-secret-1",
	}); r.Status != 200 {
		t.Fatalf("bob, created by the subcommand, cannot log in: %s", r)
	}

	if out, stderr, code := runFoyer(t, foyerEnv(), "serve", "--check", "--data-dir", cfg.DataDir); code != 0 || !strings.Contains(out, fmt.Sprintf("Served by process %d", os.Getpid())) {
		t.Fatalf("serve --check while served: exit %d\n%s%s", code, out, stderr)
	}

	// The first server still serves, then stops; the database is free.
	if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", alice.Token, nil); r.Status != 200 {
		t.Fatalf("the serving process was disturbed: %s", r)
	}
	hs.Stop(t)
	if out, _, _ := runFoyer(t, foyerEnv(), "serve", "--check", "--data-dir", cfg.DataDir); !strings.Contains(out, "No process is serving it.") {
		t.Fatalf("serve --check after the stop:\n%s", out)
	}
	hs.Resume(t)
	if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", alice.Token, nil); r.Status != 200 {
		t.Fatalf("after a clean stop the database could not be served again: %s", r)
	}
}
