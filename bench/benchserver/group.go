package benchserver

import (
	"fmt"
	"os"
	"time"
)

// Group is several foyer processes serving one PostgreSQL database, each
// with its own data dir and the same settings. They are started one after
// another, each serving before the next starts, so that the first holds
// the database's writer lease and the later ones join as followers.
type Group struct {
	Servers []*Server
	dir     string // the binary's, when the group built it
}

// StartGroup starts n processes of bin ("" builds ./cmd/foyer once for
// all) with env, which must name the shared database
// (FOYER_DATABASE_URL). If one does not come up, the ones started are
// stopped and the error says which it was.
func StartGroup(bin string, n int, env ...string) (*Group, error) {
	g := &Group{}
	if bin == "" {
		dir, err := os.MkdirTemp("", "foyer-bench-build-")
		if err != nil {
			return nil, err
		}
		g.dir = dir
		if bin, err = Build(dir); err != nil {
			g.Stop()
			return nil, err
		}
	}
	for i := range n {
		// A later process first looks at who holds the writer lease; give
		// it longer than the first, which only migrates an empty database.
		timeout := 10 * time.Second
		if i > 0 {
			timeout = 30 * time.Second
		}
		s, err := start(bin, timeout, env)
		if err != nil {
			g.Stop()
			return nil, &StartError{Process: i + 1, Of: n, Err: err}
		}
		g.Servers = append(g.Servers, s)
	}
	return g, nil
}

// StartError says which process of a group did not come up.
type StartError struct {
	Process, Of int // counted from 1
	Err         error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("process %d of %d did not start: %v", e.Process, e.Of, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Stop kills every process and removes their data.
func (g *Group) Stop() {
	for _, s := range g.Servers {
		s.Stop()
	}
	if g.dir != "" {
		_ = os.RemoveAll(g.dir)
	}
}

// CPUSeconds is the CPU time each process has used, in start order.
func (g *Group) CPUSeconds() []float64 {
	out := make([]float64, len(g.Servers))
	for i, s := range g.Servers {
		out[i] = s.CPUSeconds()
	}
	return out
}
