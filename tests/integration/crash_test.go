package integration

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"       // "pgx", to read schema_version
	_ "github.com/ncruces/go-sqlite3/driver" // "sqlite3", likewise

	"foyer/internal/testharness"
	"foyer/internal/testharness/pgtest"
)

// ---------------------------------------------------------------------
// The real binary as a subprocess: shared by the crash, shutdown and
// operator tests.

var foyerBuild struct {
	once sync.Once
	path string
	err  error
}

// foyerBinary builds ./cmd/foyer once per test binary and returns its path.
func foyerBinary(t testing.TB) string {
	t.Helper()
	foyerBuild.once.Do(func() { foyerBuild.path, foyerBuild.err = buildFoyer() })
	if foyerBuild.err != nil {
		t.Fatalf("building cmd/foyer: %v", foyerBuild.err)
	}
	return foyerBuild.path
}

func buildFoyer() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command on PATH: %w", err)
	}
	root, err := moduleRoot(goTool)
	if err != nil {
		return "", err
	}
	// One binary per test process, in a fixed directory; binaries left
	// by test processes that no longer run are removed here, so at most
	// one stale copy ever remains.
	dir := filepath.Join(os.TempDir(), "foyer-integration-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	removeStaleBinaries(dir)
	out := filepath.Join(dir, "foyer-"+strconv.Itoa(os.Getpid()))
	cmd := exec.Command(goTool, "build", "-o", out, "./cmd/foyer")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return out, nil
}

// moduleRoot is the directory of foyer's go.mod.
func moduleRoot(goTool string) (string, error) {
	if out, err := exec.Command(goTool, "env", "GOMOD").Output(); err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			return filepath.Dir(mod), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's working directory")
		}
		dir = parent
	}
}

func removeStaleBinaries(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "foyer-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// foyerEnv is the environment of a subprocess: ours without FOYER_*
// variables, plus fast password hashing and no rate limits, plus extra.
func foyerEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FOYER_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"FOYER_RATE_GUEST_REGISTRATION=off",
		"FOYER_RATE_REGISTRATION=off",
		"FOYER_RATE_LOGIN=off",
		"FOYER_PASSWORD_MEMORY_KIB=64",
		"FOYER_PASSWORD_ITERATIONS=1",
	)
	return append(env, extra...)
}

// storageArgs are the flags naming a backend's storage: the data dir (the
// SQLite database and the signing key) and, for postgres, a fresh
// database. The same flags serve restarts and operator subcommands.
func storageArgs(t testing.TB, backend string) []string {
	t.Helper()
	args := []string{"--data-dir", t.TempDir(), "--server-name", "localhost"}
	switch backend {
	case "sqlite":
	case "postgres":
		args = append(args, "--database-url", pgtest.URL(t))
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	return args
}

// flagValue returns the value following name in args.
func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// syncBuffer collects a subprocess's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// foyerProc is a running `foyer serve`.
type foyerProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	URL    string
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{} // closed once the process has exited
	client *http.Client
}

var servingRE = regexp.MustCompile(`Foyer is serving \S+ on http://(\S+)`)

// startFoyerProc runs `foyer serve ARGS` and waits until it answers
// /health with 200. The process is killed when the test ends.
func startFoyerProc(t testing.TB, args, env []string) *foyerProc {
	t.Helper()
	p := launchFoyerProc(t, args, env)
	if err := p.waitServing(30 * time.Second); err != nil {
		t.Fatalf("foyer serve %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, p.stdout.String(), tail(p.stderr.String()))
	}
	return p
}

// launchFoyerProc starts the process without waiting for it to serve.
func launchFoyerProc(t testing.TB, args, env []string) *foyerProc {
	t.Helper()
	p := &foyerProc{
		t:    t,
		done: make(chan struct{}),
		client: &http.Client{
			Timeout:   15 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true},
		},
	}
	p.cmd = exec.Command(foyerBinary(t), append([]string{"serve"}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting foyer: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
		p.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("foyer serve %s\nstdout:\n%s\nstderr (tail):\n%s", strings.Join(args, " "), p.stdout.String(), tail(p.stderr.String()))
		}
	})
	return p
}

func tail(s string) string {
	const max = 8 << 10
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

func (p *foyerProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitServing waits for the "Foyer is serving" line and a 200 on /health.
func (p *foyerProc) waitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for p.URL == "" {
		if m := servingRE.FindStringSubmatch(p.stdout.String()); m != nil {
			addr := m[1]
			if host, port, ok := strings.Cut(addr, "]:"); ok && host == "[::" {
				addr = "127.0.0.1:" + port
			}
			p.URL = "http://" + strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1)
			break
		}
		if p.exited() {
			return fmt.Errorf("exited before serving (%s)", p.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			return errors.New("did not print its address in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		r, err := p.do("GET", "/health", "", nil)
		if err == nil && r.Status == http.StatusOK {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("exited before /health answered (%s)", p.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/health did not answer 200 in time: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits up to timeout for the process to exit and returns its state.
func (p *foyerProc) wait(timeout time.Duration) (*os.ProcessState, bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState, true
	case <-time.After(timeout):
		return nil, false
	}
}

// kill9 sends SIGKILL and waits for the process to go.
func (p *foyerProc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	if _, ok := p.wait(10 * time.Second); !ok {
		p.t.Fatal("process still running 10s after SIGKILL")
	}
	p.client.CloseIdleConnections()
}

// do sends a request to the process, like testharness.Homeserver.DoErr.
func (p *foyerProc) do(method, path, token string, body any) (*testharness.Response, error) {
	return testharness.Request(p.client, p.URL, method, path, token, body)
}

// must is do failing the test on a transport error.
func (p *foyerProc) must(method, path, token string, body any) *testharness.Response {
	p.t.Helper()
	r, err := p.do(method, path, token, body)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// runFoyer runs an operator subcommand to completion.
func runFoyer(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(foyerBinary(t), args...)
	cmd.Env = env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting foyer %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("foyer %s did not finish in 30s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), so.String(), se.String())
	}
	return so.String(), se.String(), cmd.ProcessState.ExitCode()
}

// schemaVersions lists schema_version as "version name applied_ts" lines,
// read directly from the database the process uses.
func schemaVersions(t testing.TB, backend string, args []string) string {
	t.Helper()
	db := openProcDB(t, backend, args)
	defer db.Close()
	rows, err := db.Query(`SELECT version, name, applied_ts FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatalf("reading schema_version: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var v, ts int64
		var name string
		if err := rows.Scan(&v, &name, &ts); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %s %d\n", v, name, ts)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// ---------------------------------------------------------------------
// Crash durability.

// crashAccount is an acknowledged registration and what it wrote.
type crashAccount struct {
	userID, deviceID, token string
	deviceName              string
	password                string // "" for guests
}

// crashRenamer renames one device again and again, one request at a time,
// so at most one rename (the one after the last acknowledged) is in doubt.
type crashRenamer struct {
	acct  crashAccount
	names []string // names[0] is the initial name; names[i] was sent i-th
	acked int      // index in names of the last acknowledged name
}

// An acknowledged write survives kill -9: clients stream registrations and
// device renames, the server is SIGKILLed mid-stream and restarted on the
// same storage, and every write it had answered 200 must be there.
func TestCrashAcknowledgedWritesSurviveKill9(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
		env := foyerEnv()
		p := startFoyerProc(t, args, env)

		keyBefore := jsonPath(p.must("GET", "/_matrix/key/v2/server", "", nil).JSON, "verify_keys")
		if keyBefore == nil {
			t.Fatal("no verify_keys after the first start")
		}
		schemaBefore := schemaVersions(t, backend, args)
		if schemaBefore == "" {
			t.Fatal("schema_version is empty after the first start")
		}

		// Devices to rename: two guests and a full user, made before the
		// stream starts.
		var renamers []*crashRenamer
		for i := range 3 {
			body := map[string]any{"initial_device_display_name": fmt.Sprintf("renamer%d-initial", i)}
			path := "/_matrix/client/v3/register?kind=guest"
			if i == 2 {
				body["username"], body["password"] = "renamer", "renamer-pw"
				body["auth"] = map[string]any{"type": "m.login.dummy"}
				path = "/_matrix/client/v3/register"
			}
			r := p.must("POST", path, "", body)
			if r.Status != 200 {
				t.Fatalf("registering renamer %d: %s", i, r)
			}
			acct := crashAccount{userID: r.Str("user_id"), deviceID: r.Str("device_id"), token: r.Str("access_token")}
			renamers = append(renamers, &crashRenamer{acct: acct, names: []string{body["initial_device_display_name"].(string)}})
		}

		var (
			stop     atomic.Bool
			inFlight atomic.Int64
			acks     atomic.Int64
			failures atomic.Int64 // transport errors: requests cut off by the kill
			mu       sync.Mutex
			accounts []crashAccount
			wg       sync.WaitGroup
		)
		ack := func(a crashAccount) {
			mu.Lock()
			accounts = append(accounts, a)
			mu.Unlock()
			acks.Add(1)
		}
		// send does one write; false means stop streaming.
		send := func(method, path, token string, body any, want int) (*testharness.Response, bool) {
			inFlight.Add(1)
			r, err := p.do(method, path, token, body)
			inFlight.Add(-1)
			if err != nil {
				failures.Add(1)
				if !stop.Load() {
					t.Errorf("%s %s failed before the kill: %v", method, path, err)
				}
				return nil, false
			}
			if r.Status != want {
				t.Errorf("%s %s: want %d, got %s", method, path, want, r)
				return nil, false
			}
			return r, true
		}

		// Guest registrations.
		for g := range 2 {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					name := fmt.Sprintf("guest%d-%d", g, i)
					r, ok := send("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{"initial_device_display_name": name}, 200)
					if !ok {
						return
					}
					ack(crashAccount{userID: r.Str("user_id"), deviceID: r.Str("device_id"), token: r.Str("access_token"), deviceName: name})
				}
			})
		}
		// Full-user registrations, alternately in one request with
		// m.login.dummy and in two (challenge, then the session).
		for g := range 2 {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					user := fmt.Sprintf("crash%d_%d", g, i)
					body := map[string]any{
						"username": user, "password": "pw-" + user,
						"initial_device_display_name": "dev-" + user,
					}
					if i%2 == 1 {
						r, ok := send("POST", "/_matrix/client/v3/register", "", body, 401)
						if !ok {
							return
						}
						body["auth"] = map[string]any{"type": "m.login.dummy", "session": r.Str("session")}
					} else {
						body["auth"] = map[string]any{"type": "m.login.dummy"}
					}
					r, ok := send("POST", "/_matrix/client/v3/register", "", body, 200)
					if !ok {
						return
					}
					ack(crashAccount{
						userID: r.Str("user_id"), deviceID: r.Str("device_id"), token: r.Str("access_token"),
						deviceName: "dev-" + user, password: "pw-" + user,
					})
				}
			})
		}
		// Device renames, each device renamed by one goroutine in turn.
		for _, rn := range renamers {
			wg.Go(func() {
				for i := 1; !stop.Load(); i++ {
					name := fmt.Sprintf("%s-rename-%d", rn.acct.deviceID, i)
					rn.names = append(rn.names, name)
					if _, ok := send("PUT", "/_matrix/client/v3/devices/"+rn.acct.deviceID, rn.acct.token, map[string]any{"display_name": name}, 200); !ok {
						return
					}
					rn.acked = i
					acks.Add(1)
				}
			})
		}

		// Stream for 400ms (and at least 40 acknowledged writes), then
		// kill at a moment when some request is in flight.
		start := time.Now()
		for {
			time.Sleep(10 * time.Millisecond)
			el := time.Since(start)
			if (el >= 400*time.Millisecond && acks.Load() >= 40) || el >= 10*time.Second {
				break
			}
			if p.exited() {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("server exited while writes streamed: %s", p.cmd.ProcessState)
			}
		}
		for spin := time.Now(); inFlight.Load() == 0 && time.Since(spin) < 200*time.Millisecond; {
			time.Sleep(50 * time.Microsecond)
		}
		inFlightAtKill := inFlight.Load()
		stop.Store(true)
		p.kill9()
		killedAt := time.Since(start)
		wg.Wait()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the server did not die of SIGKILL: %s", p.cmd.ProcessState)
		}
		renames := 0
		for _, rn := range renamers {
			renames += rn.acked
		}
		t.Logf("%s: killed after %v: %d writes acknowledged (%d registrations, %d renames), %d requests in flight at the kill, %d cut off by it",
			backend, killedAt.Round(time.Millisecond), acks.Load(), len(accounts), renames, inFlightAtKill, failures.Load())
		if t.Failed() {
			return
		}

		// Restart on the same storage.
		p2 := startFoyerProc(t, args, env)
		if keyAfter := jsonPath(p2.must("GET", "/_matrix/key/v2/server", "", nil).JSON, "verify_keys"); !reflect.DeepEqual(keyAfter, keyBefore) {
			t.Errorf("signing key changed across the restart: before %v, after %v", keyBefore, keyAfter)
		}
		if after := schemaVersions(t, backend, args); after != schemaBefore {
			t.Errorf("schema_version changed across the restart (migrations re-applied?):\nbefore:\n%safter:\n%s", schemaBefore, after)
		}

		// Check every acknowledged write, a few requests at a time.
		checks := make(chan func(), 64)
		var cwg sync.WaitGroup
		for range 4 {
			cwg.Go(func() {
				for c := range checks {
					c()
				}
			})
		}
		get := func(path, token string) *testharness.Response {
			r, err := p2.do("GET", path, token, nil)
			if err != nil {
				t.Errorf("GET %s after restart: %v", path, err)
				return &testharness.Response{}
			}
			return r
		}
		for _, a := range accounts {
			checks <- func() {
				who := get("/_matrix/client/v3/account/whoami", a.token)
				if who.Status != 200 || who.Str("user_id") != a.userID || who.Str("device_id") != a.deviceID {
					t.Errorf("acknowledged registration of %s (device %s) lost: whoami says %s", a.userID, a.deviceID, who)
					return
				}
				dev := get("/_matrix/client/v3/devices/"+a.deviceID, a.token)
				if dev.Status != 200 || dev.Str("display_name") != a.deviceName {
					t.Errorf("device %s of %s: want display name %q, got %s", a.deviceID, a.userID, a.deviceName, dev)
				}
				if a.password == "" {
					return
				}
				lp := strings.TrimPrefix(strings.TrimSuffix(a.userID, ":localhost"), "@")
				r, err := p2.do("POST", "/_matrix/client/v3/login", "", map[string]any{
					"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": lp}, "password": a.password,
				})
				if err != nil || r.Status != 200 || r.Str("user_id") != a.userID {
					t.Errorf("password login of acknowledged user %s after restart: %v %v", a.userID, r, err)
				}
			}
		}
		for _, rn := range renamers {
			checks <- func() {
				if len(rn.names) > rn.acked+2 {
					t.Errorf("test bug: %d renames of %s sent but only %d acknowledged", len(rn.names)-1, rn.acct.deviceID, rn.acked)
				}
				// The last acknowledged name, or the one rename sent after
				// it that the kill cut off, which may or may not have landed.
				allowed := rn.names[rn.acked:]
				dev := get("/_matrix/client/v3/devices/"+rn.acct.deviceID, rn.acct.token)
				got := dev.Str("display_name")
				if dev.Status != 200 || !slices.Contains(allowed, got) {
					t.Errorf("device %s: after %d acknowledged renames want one of %q, got %s", rn.acct.deviceID, rn.acked, allowed, dev)
				}
			}
		}
		close(checks)
		cwg.Wait()

		// The restarted server takes new writes, and numbers new guests
		// past every acknowledged one.
		taken := map[string]bool{}
		for _, a := range accounts {
			taken[a.userID] = true
		}
		for range 3 {
			r := p2.must("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
			if r.Status != 200 || taken[r.Str("user_id")] {
				t.Errorf("guest registration after restart: %s", r)
			}
			taken[r.Str("user_id")] = true
		}
		if strings.Contains(p2.stderr.String(), "level=ERROR") {
			t.Errorf("the restarted server logged errors:\n%s", tail(p2.stderr.String()))
		}
	})
}

// openProcDB opens the database a subprocess server uses, from its flags.
func openProcDB(t testing.TB, backend string, args []string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if backend == "postgres" {
		db, err = sql.Open("pgx", flagValue(args, "--database-url"))
	} else {
		path := filepath.Join(flagValue(args, "--data-dir"), "foyer.db")
		db, err = sql.Open("sqlite3", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}
