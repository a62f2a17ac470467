package storage

import (
	"context"

	"foyer/internal/clientsync"
)

// PeekStore implements clientsync.PeekStore.
type PeekStore struct{ db *DB }

// NewPeekStore returns the peek store over db.
func NewPeekStore(db *DB) *PeekStore { return &PeekStore{db: db} }

func (s *PeekStore) AddPeek(ctx context.Context, p clientsync.Peek) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO room_peeks (user_id, device_id, room_id, stream_pos) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, device_id, room_id) DO UPDATE SET stream_pos = excluded.stream_pos`,
		p.UserID, p.DeviceID, p.RoomID, p.StreamPos)
	return err
}

func (s *PeekStore) RemovePeek(ctx context.Context, userID, deviceID, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM room_peeks WHERE user_id = $1 AND device_id = $2 AND room_id = $3`, userID, deviceID, roomID)
	return err
}

func (s *PeekStore) RemoveRoomPeeks(ctx context.Context, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM room_peeks WHERE room_id = $1`, roomID)
	return err
}

func (s *PeekStore) Peeks(ctx context.Context, userID, deviceID string) ([]clientsync.Peek, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, stream_pos FROM room_peeks WHERE user_id = $1 AND device_id = $2 ORDER BY room_id`, userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []clientsync.Peek
	for rows.Next() {
		p := clientsync.Peek{UserID: userID, DeviceID: deviceID}
		if err := rows.Scan(&p.RoomID, &p.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
