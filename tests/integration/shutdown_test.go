package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"foyer/internal/testharness"
)

const shutdownGrace = 3 * time.Second

// terminate sends SIGTERM and checks the process exits 0 within the
// shutdown timeout, having logged "stopped".
func terminate(t *testing.T, p *foyerProc) {
	t.Helper()
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	checkGracefulExit(t, p, sent)
}

func checkGracefulExit(t *testing.T, p *foyerProc, sent time.Time) {
	t.Helper()
	// The grace period bounds in-flight requests; closing the database
	// and exiting get a second more.
	state, ok := p.wait(shutdownGrace + time.Second)
	if !ok {
		t.Fatalf("still running %v after SIGTERM (shutdown timeout %v)", time.Since(sent).Round(time.Millisecond), shutdownGrace)
	}
	if state.ExitCode() != 0 {
		t.Errorf("exit status after SIGTERM: %s, want 0", state)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "msg=\"shutting down\"") || !strings.Contains(logs, "msg=stopped") {
		t.Errorf("logs lack \"shutting down\" and \"stopped\":\n%s", tail(logs))
	}
}

// SIGTERM stops the server cleanly: exit 0 within the shutdown timeout,
// "stopped" logged, and the next start on the same storage serves the
// same accounts.
func TestShutdownOnSIGTERM(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
		env := foyerEnv("FOYER_SHUTDOWN_TIMEOUT=" + shutdownGrace.String())
		p := startFoyerProc(t, args, env)
		guest := p.must("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
		if guest.Status != 200 {
			t.Fatalf("guest registration: %s", guest)
		}
		terminate(t, p)

		p2 := startFoyerProc(t, args, env)
		who := p2.must("GET", "/_matrix/client/v3/account/whoami", guest.Str("access_token"), nil)
		if who.Status != 200 || who.Str("user_id") != guest.Str("user_id") {
			t.Fatalf("after a restart the guest's token gives %s", who)
		}
		terminate(t, p2)
	})
}

// A request in flight when SIGTERM arrives is finished within the grace
// period (server.Stop: "other requests finish"), while new connections
// are refused.
func TestShutdownDrainsInFlightRequest(t *testing.T) {
	args := append(storageArgs(t, "sqlite"), "--listen", "127.0.0.1:0", "--registration", "open")
	env := foyerEnv("FOYER_SHUTDOWN_TIMEOUT=" + shutdownGrace.String())
	p := startFoyerProc(t, args, env)
	host := strings.TrimPrefix(p.URL, "http://")

	// A guest registration whose body arrives in two parts: the handler
	// is running, waiting for the rest, when the signal comes.
	body := `{"initial_device_display_name":"draining"}`
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /_matrix/client/v3/register?kind=guest HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		host, len(body), body[:10])
	time.Sleep(200 * time.Millisecond)
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes at once; the process stays for the request.
	for refused := false; !refused; {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if refused = err != nil; !refused {
			c.Close()
			if time.Since(sent) > 2*time.Second {
				t.Fatal("new connections still accepted 2s after SIGTERM")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if p.exited() {
		t.Fatalf("exited with a request in flight: %s", p.cmd.ProcessState)
	}
	if _, err := conn.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(shutdownGrace))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the in-flight response: %v", err)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || out["access_token"] == nil {
		t.Errorf("in-flight registration during shutdown: %d %v", resp.StatusCode, out)
	}
	checkGracefulExit(t, p, sent)
	if resp.StatusCode != 200 {
		return
	}
	p2 := startFoyerProc(t, args, env)
	who := p2.must("GET", "/_matrix/client/v3/account/whoami", out["access_token"].(string), nil)
	if who.Status != 200 || who.Str("user_id") != out["user_id"] {
		t.Errorf("the registration finished during shutdown is lost: %s", who)
	}
}

// Open registration on a non-loopback address must be asked for by name.
func TestRefuseOpenRegistrationOnPublicAddress(t *testing.T) {
	dir := t.TempDir()
	env := foyerEnv("FOYER_SHUTDOWN_TIMEOUT=" + shutdownGrace.String())

	p := launchFoyerProc(t, []string{"--listen", "0.0.0.0:0", "--data-dir", dir}, env)
	state, ok := p.wait(20 * time.Second)
	if !ok {
		t.Fatal("foyer serve --listen 0.0.0.0:0 without --registration is still running; it must refuse to start")
	}
	if state.ExitCode() == 0 {
		t.Errorf("refused start exited 0")
	}
	if msg := p.stderr.String(); !strings.Contains(msg, "--registration open") {
		t.Errorf("the refusal does not say to pass --registration open:\n%s", msg)
	}
	if strings.Contains(p.stdout.String(), "Foyer is serving") {
		t.Errorf("refused start still claims to serve:\n%s", p.stdout.String())
	}

	for _, c := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--registration", "open"}, nil},
		{"env", nil, []string{"FOYER_REGISTRATION=open"}},
		{"token mode", []string{"--registration", "token"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--listen", "0.0.0.0:0", "--data-dir", dir}, c.args...)
			p := startFoyerProc(t, args, append(env, c.env...))
			if r := p.must("GET", "/_matrix/client/versions", "", nil); r.Status != 200 {
				t.Errorf("/versions: %s", r)
			}
			terminate(t, p)
		})
	}
}

// Defaults < config file < FOYER_* environment < flags, seen through the
// user IDs the running binary hands out.
func TestConfigPrecedenceBinary(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/foyer.yaml"
	if err := os.WriteFile(file, []byte("server_name: a.example\nregistration: open\nshutdown_timeout: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--config", file}

	for _, c := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"file", nil, nil, "a.example"},
		{"env over file", nil, []string{"FOYER_SERVER_NAME=b.example"}, "b.example"},
		{"flag over env", []string{"--server-name", "c.example"}, []string{"FOYER_SERVER_NAME=b.example"}, "c.example"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startFoyerProc(t, append(append([]string{}, base...), c.args...), foyerEnv(c.env...))
			g := p.must("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{})
			who := p.must("GET", "/_matrix/client/v3/account/whoami", g.Str("access_token"), nil)
			if who.Status != 200 || !strings.HasSuffix(who.Str("user_id"), ":"+c.want) {
				t.Errorf("want a user ID on %s, whoami says %s", c.want, who)
			}
			terminate(t, p)
		})
	}
}
