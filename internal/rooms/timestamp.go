package rooms

import (
	"context"
	"math"

	"foyer/internal/refusal"
)

// EventAtTimestamp is GET /timestamp_to_event: the first event userID may
// see with origin_server_ts at or after ts (forwards), or the last at or
// before it (backwards). Ties on the timestamp go by stream position.
func (s *Service) EventAtTimestamp(ctx context.Context, userID, roomID string, ts int64, backwards bool) (StoredEvent, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return StoredEvent{}, err
	}
	if !r.mayRead() {
		return StoredEvent{}, forbiddenRead()
	}
	const batchSize = 500
	// Strictly after (ts, -1) forwards, strictly before (ts, max)
	// backwards: that is, at ts or beyond.
	pos := int64(-1)
	if backwards {
		pos = math.MaxInt64
	}
	// Visibility can hide many events in a row (a member who joined late
	// under "joined"); read on in batches, up to a bound.
	for round := 0; round < 40; round++ {
		batch, err := s.store.EventsByTimestamp(ctx, roomID, ts, pos, backwards, batchSize)
		if err != nil {
			return StoredEvent{}, err
		}
		for _, se := range batch {
			if CanSee(r.vh.visibilityOf(se)) {
				return se, nil
			}
		}
		if len(batch) < batchSize {
			break
		}
		last := batch[len(batch)-1]
		ts, pos = last.Event.OriginServerTS(), last.StreamPos
	}
	dir := "after"
	if backwards {
		dir = "before"
	}
	return StoredEvent{}, refusal.New(refusal.NotFound, "there is no event you can see at or %s that time", dir)
}
