package storage

import "context"

// AppServiceDirectory keeps the rooms application services publish in
// their networks' directories (clientapi.AppServiceDirectory).
type AppServiceDirectory struct{ db *DB }

// NewAppServiceDirectory returns the store over db.
func NewAppServiceDirectory(db *DB) *AppServiceDirectory { return &AppServiceDirectory{db: db} }

func (s *AppServiceDirectory) SetListed(ctx context.Context, asID, networkID, roomID string, listed bool) error {
	if !listed {
		_, err := s.db.Write.ExecContext(ctx, `DELETE FROM appservice_room_directory
			WHERE room_id = $1 AND appservice_id = $2 AND network_id = $3`, roomID, asID, networkID)
		return err
	}
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO appservice_room_directory (room_id, appservice_id, network_id)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, roomID, asID, networkID)
	return err
}

func (s *AppServiceDirectory) Rooms(ctx context.Context, asID, networkID string) ([]string, error) {
	if asID == "" {
		return collectStrings(s.db.Read.QueryContext(ctx, `SELECT DISTINCT room_id FROM appservice_room_directory ORDER BY room_id`))
	}
	return collectStrings(s.db.Read.QueryContext(ctx, `SELECT room_id FROM appservice_room_directory
		WHERE appservice_id = $1 AND network_id = $2 ORDER BY room_id`, asID, networkID))
}
