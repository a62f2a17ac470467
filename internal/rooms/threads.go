package rooms

import (
	"context"
	"math"
)

// threadAggregation is the m.thread bundled aggregation of a thread root:
// the latest event of the thread (with its own edit bundled), how many
// events the thread has and whether the viewer took part (sent the root
// or a reply), all counting only the replies the viewer may see.
func (s *Service) threadAggregation(ctx context.Context, viewer string, root StoredEvent, replies []RelationRow, withRoomID bool) (map[string]any, bool) {
	if len(replies) == 0 {
		return nil, false
	}
	participated := viewer != "" && root.Event.Sender() == viewer
	for _, row := range replies {
		if row.Sender == viewer && viewer != "" {
			participated = true
		}
	}
	// Rows come oldest first; take the newest that can still be read.
	for i := len(replies) - 1; i >= 0; i-- {
		latest, err := s.store.GetEvent(ctx, replies[i].ChildID)
		if err != nil {
			continue
		}
		ce := s.ClientEvents(context.WithValue(ctx, bundleDepthKey{}, 1), []StoredEvent{latest}, withRoomID)[0]
		return map[string]any{
			"latest_event":              ce,
			"count":                     len(replies),
			"current_user_participated": participated,
		}, true
	}
	return nil, false
}

// ThreadsQuery is GET /threads, parsed.
type ThreadsQuery struct {
	// Participated keeps threads the caller started or replied in.
	Participated bool
	// From is a next_batch position: threads whose latest event is at or
	// before it.
	From  *int64
	Limit int
}

// ThreadsPage is one page of thread roots, latest activity first.
type ThreadsPage struct {
	Roots []StoredEvent
	// Next is the position for next_batch; nil when there is no more.
	Next *int64
}

// Threads lists the thread roots of a room that userID may see, ordered
// by each thread's latest event. Formatting the roots with ClientEvents
// under WithViewer bundles their m.thread aggregations.
func (s *Service) Threads(ctx context.Context, userID, roomID string, q ThreadsQuery) (ThreadsPage, error) {
	r, err := s.openReader(ctx, userID, roomID)
	if err != nil {
		return ThreadsPage{}, err
	}
	if !r.mayRead() {
		return ThreadsPage{}, forbiddenRead()
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 100)
	cursor := int64(math.MaxInt64)
	if q.From != nil {
		cursor = *q.From
	}
	tq := ThreadQuery{RoomID: roomID, Limit: limit}
	if q.Participated {
		tq.Participant = userID
	}
	var page ThreadsPage
	for round := 0; round < 20 && len(page.Roots) < limit; round++ {
		tq.Before = cursor
		batch, err := s.store.ThreadRoots(ctx, tq)
		if err != nil {
			return ThreadsPage{}, err
		}
		if len(batch) == 0 {
			page.Next = nil
			break
		}
		last := batch[len(batch)-1].LatestPos
		for _, tr := range batch {
			if len(page.Roots) == limit {
				break
			}
			if CanSee(r.vh.visibilityOf(tr.Root)) {
				page.Roots = append(page.Roots, tr.Root)
				last = tr.LatestPos
			}
		}
		if len(page.Roots) < limit {
			last = batch[len(batch)-1].LatestPos
		}
		cursor = last - 1
		next := cursor
		page.Next = &next
		if len(batch) < limit && len(page.Roots) < limit {
			page.Next = nil
			break
		}
	}
	return page, nil
}
