// Package pgtest starts a throwaway PostgreSQL server from the machine's
// PostgreSQL binaries for tests: one server per test binary, a fresh
// database per test. It never skips: without PostgreSQL a test fails and
// says how to install it.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Server is a running throwaway cluster.
type Server struct {
	dir    string
	port   int
	binDir string
	asUser string // run PostgreSQL as this user when we are root
}

var (
	once     sync.Once
	shared   *Server
	startErr error
	dbSeq    atomic.Int64
)

// Main runs a package's tests and stops the shared server afterwards.
// Use it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.Exit(code)
}

// URL returns the URL of a new, empty database on the shared server,
// starting the server on first use. FOYER_TEST_POSTGRES_URL, if set, names
// an existing server (with rights to CREATE DATABASE) to use instead.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("FOYER_TEST_POSTGRES_URL")
	if base == "" {
		once.Do(func() { shared, startErr = start() })
		if startErr != nil {
			t.Fatalf("PostgreSQL for tests: %v", startErr)
		}
		base = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", shared.port)
	}
	name := fmt.Sprintf("foyer_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	return strings.Replace(base, "/postgres?", "/"+name+"?", 1)
}

func findBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) found; run scripts/install-test-deps.sh (apt-get install postgresql)")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start() (*Server, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "foyer-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, binDir: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, errors.New("running as root and there is no postgres user to run PostgreSQL as; install the postgresql package")
		}
		s.asUser = "postgres"
		if err := exec.Command("chown", "-R", "postgres", dir).Run(); err != nil {
			return nil, fmt.Errorf("chown %s: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 5; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", s.port, dir)
		out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start")
		if err == nil {
			return s, s.waitReady()
		}
		if attempt == 4 {
			logText, _ := os.ReadFile(filepath.Join(dir, "log"))
			return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, logText)
		}
	}
	return nil, errors.New("unreachable")
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.binDir, name)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	return cmd.CombinedOutput()
}

func (s *Server) waitReady() error {
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:"+strconv.Itoa(s.port)+"/postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) stop() {
	_, _ = s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	_ = os.RemoveAll(s.dir)
}
