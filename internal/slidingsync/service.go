// Package slidingsync serves simplified sliding sync (MSC4186), the sync
// Element X uses: windows over the user's rooms ordered by recent
// activity, per-room subscriptions, and extensions for to-device
// messages, keys, account data, receipts and typing. It shows what
// /sync shows (internal/clientsync's visibility, ignore and invite
// rules) and costs what the windows hold, not what the user is in.
package slidingsync

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"foyer/internal/clientdata"
	"foyer/internal/clientsync"
	"foyer/internal/rooms"
	"foyer/internal/typing"
)

// ErrUnknownPos is a pos the server no longer (or never) knew: the
// client starts a new connection (M_UNKNOWN_POS).
var ErrUnknownPos = errors.New("unknown position: start a new sliding sync connection")

// DeviceData is the device's end-to-end encryption data (internal/e2ee).
type DeviceData interface {
	ToDevice(ctx context.Context, userID, deviceID string, ackUpTo, to int64, limit int) ([]json.RawMessage, int64, error)
	OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error)
	UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error)
	Changes(ctx context.Context, userID string, from, to int64) (changed, left []string, err error)
}

// PushRules gives m.push_rules account data (internal/push).
type PushRules interface {
	AccountData(ctx context.Context, userID string) (json.RawMessage, error)
	ChangedBetween(ctx context.Context, userID string, from, to int64) (bool, error)
}

// Service answers sliding sync requests.
type Service struct {
	sync       *clientsync.Service
	rooms      *rooms.Service
	store      rooms.Store
	lists      Store
	clientData *clientdata.Service
	typing     *typing.Service
	devices    DeviceData
	push       PushRules
	conns      *connections
	facts      *factCache
	listCache  *listCache
	log        *slog.Logger
}

// Deps are the services sliding sync reads.
type Deps struct {
	Sync       *clientsync.Service
	Rooms      *rooms.Service
	Store      Store
	ClientData *clientdata.Service
	Typing     *typing.Service
	Devices    DeviceData
	Push       PushRules
	Log        *slog.Logger
}

// New builds the service.
func New(d Deps) *Service {
	return &Service{sync: d.Sync, rooms: d.Rooms, store: d.Rooms.Store(), lists: d.Store, clientData: d.ClientData,
		typing: d.Typing, devices: d.Devices, push: d.Push, conns: newConnections(), facts: newFactCache(),
		listCache: newListCache(d.Rooms), log: d.Log}
}

// Sync answers one request, waiting up to req.Timeout for news on a
// connection's later requests. stopping ends the wait when the server
// shuts down.
func (s *Service) Sync(ctx, stopping context.Context, req *Request) (*Response, error) {
	// Read your own writes, as /sync.
	s.sync.CatchUp(ctx)
	key := connKey{user: req.UserID, device: req.DeviceID, conn: req.Body.ConnID}
	var from *position
	if req.Pos != "" {
		p, ok := parsePosition(req.Pos)
		if !ok {
			return nil, ErrUnknownPos
		}
		from = &p
	}
	var deadline <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	var stop <-chan struct{}
	if stopping != nil {
		stop = stopping.Done()
	}
	final := from == nil || req.Timeout <= 0
	for {
		// Read before computing: a change the answer misses is woken
		// after it, so numbered above it.
		wake := s.sync.WakeSequence()
		var conn *connection
		var prev *connState
		if from == nil {
			conn, prev = s.conns.start(key), newConnState()
		} else {
			var ok bool
			if conn, prev, ok = s.conns.resume(key, *from); !ok {
				return nil, ErrUnknownPos
			}
		}
		c, err := s.compute(ctx, req, from, prev)
		if err != nil {
			conn.mu.Unlock()
			return nil, err
		}
		if final || c.news {
			n, ok := s.conns.record(conn, c.next)
			nonce := conn.nonce
			conn.mu.Unlock()
			if !ok {
				return nil, ErrUnknownPos
			}
			c.resp.Pos = position{nonce: nonce, state: n, stream: c.to, typing: c.typing}.String()
			return c.resp, nil
		}
		conn.mu.Unlock()
		if req.HeldElsewhere {
			// Another process holds the wait; it asks again when woken,
			// and for the final answer with no timeout.
			req.Listen = &clientsync.ListenFor{Wake: wake, UserID: req.UserID, Rooms: c.watch}
			return nil, nil
		}
		// Nothing new: listen, then make sure nothing happened between
		// the computation and the listening before waiting.
		w := s.sync.Notifier().Listen(req.UserID, c.watch)
		if pos, typ := s.sync.Position(); pos != c.to || typ != c.typing {
			s.sync.Notifier().Stop(w)
			continue
		}
		select {
		case <-w.C:
		case <-deadline:
			final = true
		case <-stop:
			final = true
		case <-ctx.Done():
			s.sync.Notifier().Stop(w)
			return nil, ctx.Err()
		}
		s.sync.Notifier().Stop(w)
	}
}

// computed is one response and the connection state after it.
type computed struct {
	resp       *Response
	next       *connState
	to, typing int64
	// news is true when the response carries something new.
	news bool
	// watch are the rooms whose changes may change the response.
	watch []string
}
