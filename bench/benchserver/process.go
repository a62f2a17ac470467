package benchserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Build compiles ./cmd/foyer (run from the repository root) into dir and
// returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "foyer")
	build := exec.Command("go", "build", "-o", bin, "./cmd/foyer")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/foyer: %w", err)
	}
	return bin, nil
}

// Env is the environment of a bench server: ours without FOYER_*
// variables (an operator's settings must not leak into a measurement),
// plus rate limits off and cheap password hashing, plus extra.
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FOYER_") {
			env = append(env, kv)
		}
	}
	env = append(env, "FOYER_RATE_GUEST_REGISTRATION=off", "FOYER_RATE_REGISTRATION=off", "FOYER_RATE_LOGIN=off",
		"FOYER_PASSWORD_MEMORY_KIB=64", "FOYER_PASSWORD_ITERATIONS=1")
	return append(env, extra...)
}

// FreeAddr is a loopback host:port nobody listens on right now.
func FreeAddr() string {
	return fmt.Sprintf("127.0.0.1:%d", freePort())
}

// Proc is one running `foyer serve`.
type Proc struct {
	Base string // http://host:port
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// Launch runs `bin serve --listen addr args...` with env, its log going to
// logTo, and waits up to timeout for /health to answer 200.
func Launch(bin, addr string, env []string, logTo io.Writer, timeout time.Duration, args ...string) (*Proc, error) {
	p := &Proc{Base: "http://" + addr, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = logTo
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitHealthy(timeout); err != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
		return nil, err
	}
	return p, nil
}

func (p *Proc) waitHealthy(timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		if r, err := c.Get(p.Base + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("foyer exited before serving (%s)", p.cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			return errors.New("foyer did not answer /health with 200 in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig and waits up to timeout for the process to end; the
// state is nil if it did not.
func (p *Proc) Stop(sig os.Signal, timeout time.Duration) *os.ProcessState {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
		return p.cmd.ProcessState
	case <-time.After(timeout):
		return nil
	}
}
