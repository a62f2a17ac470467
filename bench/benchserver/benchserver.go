// Package benchserver starts a freshly built foyer binary for the load
// programs in bench/ and gives them a minimal client: benchmarks measure
// the real server process, its memory included.
package benchserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Server is a running foyer process on SQLite in a temporary data dir.
type Server struct {
	Base string
	proc *Proc
	dir  string
}

// Start builds ./cmd/foyer (run from the repository root) and serves it
// on a free loopback port with rate limits off and cheap password hashing.
func Start() *Server { return StartWith() }

// StartWith is Start with extra FOYER_* settings in the server's
// environment.
func StartWith(env ...string) *Server { return StartBinary("", env...) }

// StartBinary is StartWith running the foyer binary bin, built already
// (so that runs can alternate between two builds); "" builds ./cmd/foyer.
func StartBinary(bin string, env ...string) *Server {
	s, err := start(bin, 10*time.Second, env)
	Check(err)
	return s
}

// start runs bin ("" builds ./cmd/foyer) in a new temporary data dir and
// waits up to timeout for it to serve; on failure nothing is left behind.
func start(bin string, timeout time.Duration, env []string) (*Server, error) {
	dir, err := os.MkdirTemp("", "foyer-bench-")
	if err != nil {
		return nil, err
	}
	if bin == "" {
		if bin, err = Build(dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	proc, err := Launch(bin, FreeAddr(), Env(env...), os.Stderr, timeout,
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Server{Base: proc.Base, proc: proc, dir: dir}, nil
}

// Stop kills the server and removes its data.
func (s *Server) Stop() {
	s.proc.Stop(os.Kill, time.Minute)
	_ = os.RemoveAll(s.dir)
}

// RSSKiB is the server process's resident memory.
func (s *Server) RSSKiB() int64 { return s.statusKiB("VmRSS:") }

// PeakRSSKiB is the most resident memory the server process has used.
func (s *Server) PeakRSSKiB() int64 { return s.statusKiB("VmHWM:") }

func (s *Server) statusKiB(field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.proc.Pid()))
	Check(err)
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kib)
			return kib
		}
	}
	return 0
}

// OpenFiles is how many file descriptors (sockets included) the server
// process holds.
func (s *Server) OpenFiles() int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.proc.Pid()))
	Check(err)
	return len(entries)
}

// Call sends a JSON request and returns the decoded answer; anything but
// 200 ends the program.
func Call(c *http.Client, method, url, token string, body any) map[string]any {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	Check(err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	Check(err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	var out map[string]any
	Check(json.Unmarshal(raw, &out))
	return out
}

// Register makes a user and returns its access token.
func (s *Server) Register(c *http.Client, name string) string {
	r := Call(c, "POST", s.Base+"/_matrix/client/v3/register", "", map[string]any{
		"username": name, "password": "pw-" + name, "auth": map[string]any{"type": "m.login.dummy"},
	})
	return r["access_token"].(string)
}

// Median of v (sorts it).
func Median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// Check ends the program on an error.
func Check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// CPUSeconds is the user and system CPU time the server process has used.
func (s *Server) CPUSeconds() float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.proc.Pid()))
	Check(err)
	// Fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th of them.
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	f := strings.Fields(rest)
	var utime, stime float64
	fmt.Sscanf(f[11], "%g", &utime)
	fmt.Sscanf(f[12], "%g", &stime)
	// Linux reports clock ticks of 1/100 s (USER_HZ) on every platform Go
	// supports.
	return (utime + stime) / 100
}
