package storage

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// Stream hands out positions in the one stream that orders everything a
// sync can see (events, receipts, account data, to-device messages...).
// Writers take a position before their transaction and release it after;
// Current is the highest position below which every write has finished,
// so readers never skip a write that commits late.
//
// Sync tokens carry Current, and some writes take a position yet store
// nothing at it (a receipt that does not move forward, identical keys
// uploaded again). So that a restart never hands out a position a client
// may already hold, positions come from blocks claimed durably in
// stream_ceiling before any of them is used: after a restart numbering
// resumes above the last claimed block.
type Stream struct {
	db        *DB
	blockSize int64

	mu       sync.Mutex
	next     int64
	ceiling  int64 // positions up to here are durably claimed
	inFlight map[int64]struct{}
	current  int64
	// onAdvance is told the new Current whenever it moves.
	onAdvance []func(int64)
	// advanced is closed (and replaced) whenever Current moves.
	advanced chan struct{}

	// claiming serialises block claims, so writers waiting for a block
	// share one database write.
	claiming sync.Mutex
}

// streamBlockSize is how many positions one durable claim covers: a
// restart skips at most this many.
const streamBlockSize = 1000

// OpenStream starts the stream above every position handed out before.
func OpenStream(ctx context.Context, db *DB) (*Stream, error) {
	return openStream(ctx, db, streamBlockSize)
}

func openStream(ctx context.Context, db *DB, blockSize int64) (*Stream, error) {
	var ceiling int64
	if err := db.Read.QueryRowContext(ctx, `SELECT ceiling FROM stream_ceiling WHERE id = 1`).Scan(&ceiling); err != nil {
		return nil, fmt.Errorf("reading the stream ceiling: %w", err)
	}
	// Nothing of this process is claimed yet: the first Reserve claims a
	// block above ceiling.
	return &Stream{db: db, blockSize: blockSize, next: ceiling + 1, ceiling: ceiling, current: ceiling, inFlight: map[int64]struct{}{},
		advanced: make(chan struct{})}, nil
}

// Reserve takes the next position. The caller must call done exactly once
// when its transaction has committed or failed. It fails only when a new
// block of positions cannot be claimed in the database.
func (s *Stream) Reserve(ctx context.Context) (pos int64, done func(), err error) {
	s.mu.Lock()
	for s.next > s.ceiling {
		s.mu.Unlock()
		if err := s.claimBlock(ctx); err != nil {
			return 0, nil, err
		}
		s.mu.Lock()
	}
	pos = s.next
	s.next++
	s.inFlight[pos] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return pos, func() { once.Do(func() { s.finish(pos) }) }, nil
}

// claimBlock durably raises the ceiling by a block above both the stored
// ceiling (another process, such as an operator subcommand, may have
// claimed some) and this process's own numbering.
func (s *Stream) claimBlock(ctx context.Context) error {
	s.claiming.Lock()
	defer s.claiming.Unlock()
	s.mu.Lock()
	need, floor := s.next > s.ceiling, s.next-1
	s.mu.Unlock()
	if !need {
		return nil // a writer before us claimed one
	}
	var ceiling int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE stream_ceiling
			SET ceiling = CASE WHEN ceiling > $1 THEN ceiling ELSE $2 END + $3
			WHERE id = 1 RETURNING ceiling`, floor, floor, s.blockSize).Scan(&ceiling)
	})
	if err != nil {
		return fmt.Errorf("claiming stream positions: %w", err)
	}
	s.mu.Lock()
	if start := ceiling - s.blockSize + 1; start > s.next {
		// Another process holds the positions in between.
		s.next = start
	}
	s.ceiling = ceiling
	s.mu.Unlock()
	return nil
}

func (s *Stream) finish(pos int64) {
	s.mu.Lock()
	delete(s.inFlight, pos)
	newCurrent := s.next - 1
	for p := range s.inFlight {
		if p-1 < newCurrent {
			newCurrent = p - 1
		}
	}
	advanced := newCurrent > s.current
	if advanced {
		s.current = newCurrent
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
	listeners := s.onAdvance
	s.mu.Unlock()
	if advanced {
		for _, f := range listeners {
			f(newCurrent)
		}
	}
}

// Current is the position up to which every write is visible.
func (s *Stream) Current() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// CatchUp waits until every position handed out before the call is
// visible, at most maxWait: a write acknowledged to a client took its
// position before the client's next request, so a read that catches up
// first sees it (read your own writes), although later writers may have
// finished before it. It reports whether it caught up.
func (s *Stream) CatchUp(ctx context.Context, maxWait time.Duration) bool {
	s.mu.Lock()
	target := s.next - 1
	s.mu.Unlock()
	var timeout <-chan time.Time
	for {
		s.mu.Lock()
		caught, advanced := s.current >= target, s.advanced
		s.mu.Unlock()
		if caught {
			return true
		}
		if timeout == nil {
			t := time.NewTimer(maxWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-advanced:
		case <-timeout:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// OnAdvance registers f to be called (outside locks) when Current moves.
func (s *Stream) OnAdvance(f func(int64)) {
	s.mu.Lock()
	s.onAdvance = append(s.onAdvance, f)
	s.mu.Unlock()
}
