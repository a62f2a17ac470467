package storage

import (
	"context"
	"testing"

	"foyer/internal/slidingsync"
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

// The digest of a user's memberships changes with any of them (a new
// membership, a changed one, one gone), so a cached list is never used
// after one of them moved; forgotten rooms are read apart.
func TestMembershipsDigestFollowsEveryChange(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewSlidingSyncStore(db)
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Write.ExecContext(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		digest := func() slidingsync.MembershipsDigest {
			t.Helper()
			d, err := s.MembershipsDigest(ctx, "@u:x")
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		empty := digest()
		if empty != (slidingsync.MembershipsDigest{}) {
			t.Fatalf("no memberships: %+v", empty)
		}
		exec(`INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership) VALUES ('!a:x', 'm.room.member', '@u:x', '$1', 10, 'join')`)
		exec(`INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership) VALUES ('!a:x', 'm.room.name', '', '$2', 11, NULL)`)
		one := digest()
		if one.Count != 1 || one.SumPos != 10 || one.MaxPos != 10 {
			t.Fatalf("one membership: %+v", one)
		}
		exec(`UPDATE current_state SET stream_pos = 12, event_id = '$3', membership = 'leave' WHERE room_id = '!a:x' AND state_key = '@u:x'`)
		if changed := digest(); changed == one {
			t.Fatal("a changed membership left the digest as it was")
		}
		exec(`INSERT INTO forgotten_rooms (user_id, room_id) VALUES ('@u:x', '!a:x')`)
		forgotten, err := s.ForgottenRooms(ctx, "@u:x")
		if err != nil || !forgotten["!a:x"] || len(forgotten) != 1 {
			t.Fatalf("forgotten: %v %v", forgotten, err)
		}
		rows, err := s.ListedRooms(ctx, "@u:x")
		if err != nil || len(rows) != 1 || rows[0].Membership != "leave" || rows[0].MembershipPos != 12 {
			t.Fatalf("listed: %+v %v", rows, err)
		}
	})
}
