package storage

import (
	"context"

	"foyer/internal/rooms"
)

// EventsAfter returns the events of every room with from < stream_pos
// <= to that clients may see, in stream order, at most limit: what an
// application service's transactions are made of.
func (s *RoomStore) EventsAfter(ctx context.Context, from, to int64, limit int) ([]rooms.StoredEvent, error) {
	return collectEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e JOIN rooms r ON r.room_id = e.room_id
		WHERE e.stream_pos > $1 AND e.stream_pos <= $2`+shownToClients+` ORDER BY e.stream_pos LIMIT $3`, from, to, limit))
}

// JoinedUsers returns the users joined to roomID now.
func (s *RoomStore) JoinedUsers(ctx context.Context, roomID string) ([]string, error) {
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT state_key FROM current_state
		WHERE room_id = $1 AND type = 'm.room.member' AND membership = 'join'`, roomID))
}
