package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"foyer/bench/benchserver"
)

// server is the foyer of a run: one process at a time, all on the same
// address and the same storage, restarted after each kill.
type server struct {
	bin, addr string
	env, args []string
	logTo     io.Writer
	c         *client

	proc  *benchserver.Proc
	epoch atomic.Int64 // processes that have ended so far

	anomalies []string // a SIGTERM not ending in a clean exit, a process dying by itself
}

func (s *server) start() error {
	proc, err := benchserver.Launch(s.bin, s.addr, s.env, s.logTo, time.Minute, s.args...)
	if err != nil {
		return fmt.Errorf("starting foyer (process %d on the same storage): %w", s.epoch.Load()+1, err)
	}
	s.proc = proc
	return nil
}

// stop ends the process with sig and checks how it ended: SIGKILL must
// be what killed it; SIGTERM must end in a clean exit.
func (s *server) stop(sig syscall.Signal) error {
	pid := s.proc.Pid()
	fmt.Fprintf(s.logTo, "=== killsoak: %s to pid %d ===\n", sig, pid)
	wait := 10 * time.Second
	if sig == syscall.SIGTERM {
		wait = 60 * time.Second // the shutdown grace (10s by default) and then some
	}
	if s.proc.Exited() {
		s.anomalies = append(s.anomalies, fmt.Sprintf("pid %d had exited by itself before %s", pid, sig))
	}
	state := s.proc.Stop(sig, wait)
	if state == nil {
		_ = s.proc.Stop(os.Kill, 10*time.Second)
		return fmt.Errorf("pid %d still running %v after %s", pid, wait, sig)
	}
	s.epoch.Add(1)
	s.c.transport.CloseIdleConnections()
	ws, _ := state.Sys().(syscall.WaitStatus)
	switch sig {
	case syscall.SIGKILL:
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			s.anomalies = append(s.anomalies, fmt.Sprintf("pid %d did not die of SIGKILL: %s", pid, state))
		}
	case syscall.SIGTERM:
		if state.ExitCode() != 0 {
			s.anomalies = append(s.anomalies, fmt.Sprintf("pid %d did not exit cleanly on SIGTERM: %s", pid, state))
		}
	}
	return nil
}
