package storage

import (
	"context"
	"testing"
)

// Migration 0065 gives each room its newest bump event among the events
// already stored: messages and the like, never state churn, rejected,
// soft-failed or outlier events.
func TestBumpStampMigrationCoversStoredEvents(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		steps := []string{
			`DROP TABLE room_bump_stamps`,
			`INSERT INTO rooms (room_id, room_version, creator, created_ts, latest_event_id, depth)
				VALUES ('!a:x', '10', '@u:x', 0, '$5', 5), ('!b:x', '10', '@u:x', 0, '$7', 2)`,
			`INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, history_visibility, depth, origin_server_ts, json,
					rejected, soft_failed, outlier) VALUES
				(1, '$1', '!a:x', 'm.room.create', '', '@u:x', 'shared', 1, 0, '{}', FALSE, FALSE, FALSE),
				(2, '$2', '!a:x', 'm.room.message', NULL, '@u:x', 'shared', 2, 0, '{}', FALSE, FALSE, FALSE),
				(3, '$3', '!a:x', 'm.room.topic', '', '@u:x', 'shared', 3, 0, '{}', FALSE, FALSE, FALSE),
				(4, '$4', '!a:x', 'm.room.message', NULL, '@u:x', 'shared', 4, 0, '{}', TRUE, FALSE, FALSE),
				(5, '$5', '!a:x', 'm.room.encrypted', NULL, '@u:x', 'shared', 5, 0, '{}', FALSE, TRUE, FALSE),
				(6, '$6', '!b:x', 'm.room.create', '', '@u:x', 'shared', 1, 0, '{}', FALSE, FALSE, FALSE),
				(7, '$7', '!b:x', 'm.room.member', '@u:x', '@u:x', 'shared', 2, 0, '{}', FALSE, FALSE, FALSE),
				(-8, '$8', '!b:x', 'm.room.message', NULL, '@u:x', 'shared', 0, 0, '{}', FALSE, FALSE, TRUE)`,
		}
		for _, step := range steps {
			if _, err := db.Write.ExecContext(ctx, step); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.version == 65 {
				if _, err := db.Write.ExecContext(ctx, dialectSQL(db.Dialect, m.sql)); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := map[string]int64{}
		rows, err := db.Read.QueryContext(ctx, `SELECT room_id, stream_pos FROM room_bump_stamps`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var pos int64
			if err := rows.Scan(&id, &pos); err != nil {
				t.Fatal(err)
			}
			got[id] = pos
		}
		if len(got) != 2 || got["!a:x"] != 2 || got["!b:x"] != 6 {
			t.Fatalf("bump stamps %v, want !a:x at 2 and !b:x at 6", got)
		}
	})
}
