package storage

import (
	"context"

	"foyer/internal/appservicesender"
	"foyer/internal/rooms"
)

// AppServiceFeed is what application services' transactions are read
// from (appservicesender.Feed): events, to-device messages and device-list
// changes after a stream position.
type AppServiceFeed struct {
	*RoomStore
}

// NewAppServiceFeed returns the feed over db.
func NewAppServiceFeed(db *DB) AppServiceFeed { return AppServiceFeed{NewRoomStore(db)} }

// EventsAfter returns the events of every room with from < stream_pos
// <= to that clients may see, in stream order, at most limit.
func (s *RoomStore) EventsAfter(ctx context.Context, from, to int64, limit int) ([]rooms.StoredEvent, error) {
	return collectEvents(s.db.Read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e JOIN rooms r ON r.room_id = e.room_id
		WHERE e.stream_pos > $1 AND e.stream_pos <= $2`+shownToClients+` ORDER BY e.stream_pos LIMIT $3`, from, to, limit))
}

// JoinedUsers returns the users joined to roomID now.
func (s *RoomStore) JoinedUsers(ctx context.Context, roomID string) ([]string, error) {
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT state_key FROM current_state
		WHERE room_id = $1 AND type = 'm.room.member' AND membership = 'join'`, roomID))
}

// ToDeviceAfter returns the to-device messages sent with from <
// stream_pos <= to, in order.
func (f AppServiceFeed) ToDeviceAfter(ctx context.Context, from, to int64) ([]appservicesender.ToDevice, error) {
	rows, err := f.db.Read.QueryContext(ctx, `SELECT user_id, device_id, sender, type, content FROM to_device_messages
		WHERE stream_pos > $1 AND stream_pos <= $2 ORDER BY stream_pos, id`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appservicesender.ToDevice
	for rows.Next() {
		var m appservicesender.ToDevice
		var content string
		if err := rows.Scan(&m.UserID, &m.DeviceID, &m.Sender, &m.Type, &content); err != nil {
			return nil, err
		}
		m.Content = []byte(content)
		out = append(out, m)
	}
	return out, rows.Err()
}

// DeviceListChangesAfter returns the users whose devices or keys changed
// with from < stream_pos <= to, in a change every room-mate sees.
func (f AppServiceFeed) DeviceListChangesAfter(ctx context.Context, from, to int64) ([]string, error) {
	return collectStrings(f.db.Read.QueryContext(ctx, `SELECT user_id FROM device_list_changes
		WHERE stream_pos > $1 AND stream_pos <= $2 AND visible_to = '' ORDER BY stream_pos`, from, to))
}
