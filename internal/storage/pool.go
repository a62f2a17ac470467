package storage

import (
	"context"
	"database/sql"
	"sync"
)

// Pool is a database/sql pool that keeps its queries prepared, when
// asked to: SQLite parses a statement's text every time it is run
// otherwise, which under load costs more than running most of them
// (PostgreSQL's driver keeps its own prepared statements).
type Pool struct {
	*sql.DB
	stmts *stmtCache
}

// stmtCacheSize bounds the statements one pool keeps prepared: the
// queries with few arguments number a few hundred; those beyond it run
// unprepared.
const stmtCacheSize = 1024

// stmtCacheMaxArgs leaves queries built with long lists of arguments
// unprepared: each length is its own text, each seen rarely.
const stmtCacheMaxArgs = 24

type stmtCache struct {
	mu    sync.RWMutex // every query looks; few prepare
	stmts map[string]*sql.Stmt
}

func newPool(db *sql.DB, prepared bool) *Pool {
	p := &Pool{DB: db}
	if prepared {
		p.stmts = &stmtCache{stmts: map[string]*sql.Stmt{}}
	}
	return p
}

// kept returns query prepared if it is (nil if it cannot be), and
// whether it was tried.
func (p *Pool) kept(query string) (*sql.Stmt, bool) {
	p.stmts.mu.RLock()
	defer p.stmts.mu.RUnlock()
	st, ok := p.stmts.stmts[query]
	return st, ok
}

// stmt returns query prepared, or nil when it is not kept prepared.
func (p *Pool) stmt(ctx context.Context, query string, args int) *sql.Stmt {
	if p.stmts == nil || args > stmtCacheMaxArgs {
		return nil
	}
	if st, known := p.kept(query); known {
		return st
	}
	return p.prepare(ctx, query)
}

// prepare prepares query and keeps it; nil when it cannot be prepared or
// the pool keeps as many as it may. None is ever let go: a statement
// closed while a query is about to use it would fail that query.
func (p *Pool) prepare(ctx context.Context, query string) *sql.Stmt {
	c := p.stmts
	st, err := p.DB.PrepareContext(ctx, query)
	if err != nil {
		// Run as it is, so the caller gets the error of its query; one
		// that cannot be prepared (a bad one, a script) is not tried again.
		if ctx.Err() == nil {
			c.mu.Lock()
			if _, ok := c.stmts[query]; !ok && len(c.stmts) < stmtCacheSize {
				c.stmts[query] = nil
			}
			c.mu.Unlock()
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prior, ok := c.stmts[query]; ok || len(c.stmts) >= stmtCacheSize {
		_ = st.Close()
		return prior
	}
	c.stmts[query] = st
	return st
}

// QueryContext runs a query, prepared once when the pool keeps them.
func (p *Pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query, len(args)); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query of one row, prepared once when the pool
// keeps them.
func (p *Pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query, len(args)); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, query, args...)
}

// ExecContext runs a statement, prepared once when the pool keeps them
// and it has arguments (a script of several statements has none, and is
// run as it is).
func (p *Pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if len(args) == 0 {
		return p.DB.ExecContext(ctx, query)
	}
	if st := p.stmt(ctx, query, len(args)); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, query, args...)
}

// Close closes the kept statements and the pool.
func (p *Pool) Close() error {
	if p.stmts != nil {
		p.stmts.mu.Lock()
		for q, st := range p.stmts.stmts {
			if st != nil {
				_ = st.Close()
			}
			delete(p.stmts.stmts, q)
		}
		p.stmts.mu.Unlock()
	}
	return p.DB.Close()
}
