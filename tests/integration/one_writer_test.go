package integration

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"foyer/internal/cluster"
	"foyer/internal/testharness"
)

// A second process on the same database follows the first, which keeps
// writing; a writer whose lease is taken stops.
func TestPostgresDatabaseServedByOneWriter(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	hs := testharness.Start(t, cfg)
	alice := hs.RegisterUser(t, "alice")

	second := cfg
	second.DataDir = t.TempDir()
	follower := testharness.Start(t, second)
	if !hs.Server.Writing() || follower.Server.Writing() {
		t.Fatalf("writing: first %v, second %v; want the first only", hs.Server.Writing(), follower.Server.Writing())
	}
	if r := follower.Do(t, "GET", "/_matrix/client/v3/account/whoami", alice.Token, nil); r.Status != 200 {
		t.Fatalf("whoami through the follower: %s", r)
	}

	// Someone else takes the lease (as a process would after this one
	// stalled past its lease): this one stops serving.
	db, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE cluster_leases SET holder = 'someone-else', expires_ts = $1 WHERE name = 'writer'`, time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-hs.Server.Done():
		if !errors.Is(err, cluster.ErrServedElsewhere) {
			t.Fatalf("the server stopped with %v, want ErrServedElsewhere", err)
		}
	case <-time.After(3 * cluster.DefaultHeartbeat):
		t.Fatal("the server kept serving after its writer lease was taken")
	}
}

// A process killed with -9 leaves its lease behind: restarted on the same
// data dir it is the same instance and serves at once; another process
// takes the lease over once it runs out.
func TestPostgresWriterLeaseAfterKill9(t *testing.T) {
	args := append(storageArgs(t, "postgres"), "--listen", "127.0.0.1:0", "--registration", "open")
	env := foyerEnv()
	p := startFoyerProc(t, args, env)
	tok := p.must("POST", "/_matrix/client/v3/register", "", map[string]any{
		"username": "alice", "password": "alice-secret-1", "auth": map[string]any{"type": "m.login.dummy"},
	}).Str("access_token")
	p.kill9()

	began := time.Now()
	p = startFoyerProc(t, args, env)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("a restart on the same data dir took %v to serve; its own lease should be taken back at once", took)
	}
	p.must("GET", "/_matrix/client/v3/account/whoami", tok, nil)
	p.kill9()

	other := append([]string{}, args...)
	for i := range other {
		if other[i] == "--data-dir" {
			other[i+1] = t.TempDir()
		}
	}
	began = time.Now()
	p = startFoyerProc(t, other, env)
	took := time.Since(began)
	if took > cluster.DefaultLeaseTTL+5*time.Second {
		t.Errorf("another process took %v to take over the lease of a killed one (lease %v)", took, cluster.DefaultLeaseTTL)
	}
	t.Logf("another process served %v after the holder was killed", took.Round(100*time.Millisecond))
	p.must("GET", "/_matrix/client/v3/account/whoami", tok, nil)

	// serve --check shows both: the new writer alive, the killed one silent.
	out, stderr, code := runFoyer(t, env, append([]string{"serve", "--check"}, other...)...)
	if code != 0 {
		t.Fatalf("serve --check: exit %d\n%s", code, stderr)
	}
	var writer, silent bool
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " writer ") && strings.Contains(line, fmt.Sprintf("(process %d)", p.cmd.Process.Pid)) && strings.Contains(line, "(alive)") {
			writer = true
		}
		if strings.Contains(line, "(silent)") {
			silent = true
		}
	}
	if !writer || !silent {
		t.Errorf("serve --check does not show the live writer and the killed process:\n%s", out)
	}
}
