package storage

import (
	"context"
	"sync"
)

// Stream hands out positions in the one stream that orders everything a
// sync can see (events, receipts, account data, to-device messages...).
// Writers take a position before their transaction and release it after;
// Current is the highest position below which every write has finished,
// so readers never skip a write that commits late.
type Stream struct {
	mu       sync.Mutex
	next     int64
	inFlight map[int64]struct{}
	current  int64
	// onAdvance is told the new Current whenever it moves.
	onAdvance []func(int64)
}

// streamTables are every table whose rows carry a stream_pos.
var streamTables = []string{"events"}

// RegisterStreamTable adds a table holding stream positions, so the
// stream resumes above its rows after a restart. Call before OpenStream.
func RegisterStreamTable(name string) { streamTables = append(streamTables, name) }

// OpenStream starts the stream above every stored position.
func OpenStream(ctx context.Context, db *DB) (*Stream, error) {
	var max int64
	for _, t := range streamTables {
		var m *int64
		if err := db.Read.QueryRowContext(ctx, `SELECT MAX(stream_pos) FROM `+t).Scan(&m); err != nil {
			return nil, err
		}
		if m != nil && *m > max {
			max = *m
		}
	}
	return &Stream{next: max + 1, current: max, inFlight: map[int64]struct{}{}}, nil
}

// Reserve takes the next position. The caller must call done exactly once
// when its transaction has committed or failed.
func (s *Stream) Reserve() (pos int64, done func()) {
	s.mu.Lock()
	pos = s.next
	s.next++
	s.inFlight[pos] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return pos, func() { once.Do(func() { s.finish(pos) }) }
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

// OnAdvance registers f to be called (outside locks) when Current moves.
func (s *Stream) OnAdvance(f func(int64)) {
	s.mu.Lock()
	s.onAdvance = append(s.onAdvance, f)
	s.mu.Unlock()
}
