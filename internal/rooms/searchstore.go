package rooms

import "context"

// SearchStore answers full-text searches over the events shown to
// clients; the index is kept by the store's own writes (the event's
// commit, its redaction).
type SearchStore interface {
	// SearchEvents lists the matching events, best first (Recent: newest
	// first), at most q.Limit from the cursor on. A store may bound the
	// matches it ranks (the newest it can afford to).
	SearchEvents(ctx context.Context, q SearchQuery) ([]SearchHit, error)
	// CountSearch is how many events match, the cursor aside, up to the
	// same bound.
	CountSearch(ctx context.Context, q SearchQuery) (int, error)
}

// SearchQuery is one page of a search, for the store.
type SearchQuery struct {
	// Viewer's events before their first join (first invite under
	// history_visibility invited) are left out of rooms whose history is
	// joined or invited at them: most that the viewer may not see, found
	// in SQL; Service.Search applies the exact rule after.
	Viewer  string
	RoomIDs []string
	Expr    SearchExpr
	// Types are the event types of the keys searched.
	Types  []string
	Filter EventFilter
	// Recent orders newest first (by stream position); otherwise by rank.
	Recent bool
	// Before: with Recent, only events at stream positions below it.
	Before *int64
	// Offset: by rank, the rows to skip.
	Offset int
	Limit  int
}

// SearchHit is a matching event with its rank (greater is better).
type SearchHit struct {
	Event StoredEvent
	Rank  float64
}
