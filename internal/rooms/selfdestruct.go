package rooms

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"foyer/internal/rooms/matrixevents"
)

// Self-destructing messages (MSC2228, unstable; Synapse's
// enable_ephemeral_messages): a message event whose content carries
// org.matrix.self_destruct_after, a time in milliseconds since the epoch,
// is pruned as a redaction would prune it once that time has passed. The
// content leaves the database, not just the responses. Off unless the
// operator enables it.
const selfDestructAfterKey = "org.matrix.self_destruct_after"

// SelfDestructStore prunes expired events.
type SelfDestructStore interface {
	// ExpireDue prunes every event whose expiry is at or before now.
	ExpireDue(ctx context.Context, now int64) (int, error)
	// NextExpiry is the earliest expiry still pending, if any.
	NextExpiry(ctx context.Context) (ts int64, ok bool, err error)
}

type selfDestruct struct {
	store SelfDestructStore
	// kick wakes the loop when an event with an earlier expiry is stored.
	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// selfDestructAt is when an event should lose its content, or 0.
func selfDestructAt(ev matrixevents.Event) int64 {
	if ev.IsState() {
		return 0
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(ev.Content(), &c) != nil {
		return 0
	}
	var at float64
	if raw, ok := c[selfDestructAfterKey]; !ok || json.Unmarshal(raw, &at) != nil || at <= 0 {
		return 0
	}
	return int64(at)
}

// StartSelfDestruct enables self-destructing messages, pruned by store.
func (s *Service) StartSelfDestruct(store SelfDestructStore) {
	sd := &selfDestruct{store: store, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.selfDestruct = sd
	sd.done.Add(1)
	go func() {
		defer sd.done.Done()
		s.expireLoop(sd)
	}()
}

// StopSelfDestruct ends the expiry loop, if running; it may be called
// more than once.
func (s *Service) StopSelfDestruct() {
	if sd := s.selfDestruct; sd != nil {
		sd.stopOnce.Do(func() { close(sd.stop) })
		sd.done.Wait()
	}
}

func (s *Service) expireLoop(sd *selfDestruct) {
	ctx := context.Background()
	for {
		if n, err := sd.store.ExpireDue(ctx, s.now().UnixMilli()); err != nil {
			s.log.Warn("pruning self-destructed messages", "err", err)
		} else if n > 0 {
			s.pruned.Add(1)
			s.log.Debug("pruned self-destructed messages", "count", n)
		}
		wait := time.Hour
		if next, ok, err := sd.store.NextExpiry(ctx); err != nil {
			s.log.Warn("finding the next self-destructing message", "err", err)
			wait = time.Minute
		} else if ok {
			wait = max(time.Until(time.UnixMilli(next)), 0)
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-sd.kick:
			timer.Stop()
		case <-sd.stop:
			timer.Stop()
			return
		}
	}
}

// scheduled tells the loop that events with expiries were stored.
func (sd *selfDestruct) scheduled() {
	select {
	case sd.kick <- struct{}{}:
	default:
	}
}

// PrunedGeneration changes whenever self-destructed messages were pruned:
// stored events changed without a new stream position, so what was read
// of them before is stale.
func (s *Service) PrunedGeneration() uint64 { return s.pruned.Load() }
