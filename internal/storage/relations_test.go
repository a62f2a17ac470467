package storage

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The relations migration indexes the relations of events stored before
// it with SQL, and must take exactly what rooms.RelationOf takes: this
// runs its backfill statement over hand-made rows on both databases.
func TestRelationsBackfillMatchesRelationOf(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		body, err := migrationFiles.ReadFile("migrations/0015_relations.sql")
		if err != nil {
			t.Fatal(err)
		}
		_, backfill, ok := strings.Cut(string(body), "INSERT INTO event_relations")
		if !ok {
			t.Fatal("no backfill statement in 0015_relations.sql")
		}
		backfill = dialectSQL(db.Dialect, "INSERT INTO event_relations"+backfill)
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO rooms (room_id, room_version, creator, created_ts, latest_event_id, depth)
			VALUES ('!r:x', '11', '@a:x', 0, '', 0)`); err != nil {
			t.Fatal(err)
		}
		contents := map[string]string{
			"$thread":   `{"body":"x","m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}`,
			"$edit":     `{"m.new_content":{},"m.relates_to":{"rel_type":"m.replace","event_id":"$root"}}`,
			"$reply":    `{"m.relates_to":{"m.in_reply_to":{"event_id":"$root"}}}`,
			"$string":   `{"m.relates_to":"m.thread"}`,
			"$number":   `{"m.relates_to":{"rel_type":"m.thread","event_id":5}}`,
			"$nodollar": `{"m.relates_to":{"rel_type":"m.thread","event_id":"root"}}`,
			"$empty":    `{"m.relates_to":{"rel_type":"","event_id":"$root"}}`,
			"$nul":      `{"m.relates_to":{"rel_type":"m.thread","event_id":"$ro\u0000ot"}}`,
			"$redacted": `{"m.relates_to":{"rel_type":"m.thread","event_id":"$root"}}`,
			"$plain":    `{"body":"m.relates_to"}`,
		}
		pos := 0
		for id, content := range contents {
			pos++
			redactedBy := any(nil)
			if id == "$redacted" {
				redactedBy = "$red"
			}
			js := fmt.Sprintf(`{"event_id":%q,"type":"m.room.message","content":%s}`, id, content)
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, sender, history_visibility,
				depth, origin_server_ts, json, redacted_by) VALUES ($1, $2, '!r:x', 'm.room.message', '@a:x', 'shared', $3, 0, $4, $5)`,
				pos, id, pos, js, redactedBy); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Write.ExecContext(ctx, backfill); err != nil {
			t.Fatalf("backfill: %v\n%s", err, backfill)
		}
		rows, err := db.Read.QueryContext(ctx, `SELECT child_event_id, parent_event_id, rel_type, child_type FROM event_relations ORDER BY child_event_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var child, parent, rel, typ string
			if err := rows.Scan(&child, &parent, &rel, &typ); err != nil {
				t.Fatal(err)
			}
			got = append(got, child+">"+parent+":"+rel+":"+typ)
		}
		want := []string{"$edit>$root:m.replace:m.room.message", "$thread>$root:m.thread:m.room.message"}
		if !slices.Equal(got, want) {
			t.Errorf("indexed %v, want %v", got, want)
		}
	})
}

// BenchmarkRelationRowsByRoomEdits reads the edits of 10 messages in a
// room that has 100 or 100,000 edits of other messages: the cost must not
// grow with the room's history (SQLite; compare the two sizes).
//
//	go test ./internal/storage -run '^$' -bench RelationRowsByRoomEdits -count 3
func BenchmarkRelationRowsByRoomEdits(b *testing.B) {
	for _, edits := range []int{100, 100_000} {
		b.Run(fmt.Sprint(edits), func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, "", b.TempDir(), AccountLimits{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s := NewRoomStore(db)
			err = db.WithTx(ctx, func(tx *sql.Tx) error {
				for i := range edits {
					if _, err := tx.ExecContext(ctx, `INSERT INTO event_relations (child_event_id, room_id, parent_event_id, rel_type, child_type, stream_pos)
						VALUES ($1, '!r:x', $2, 'm.replace', 'm.room.message', $3)`, fmt.Sprintf("$edit%d", i), fmt.Sprintf("$old%d", i), i+1); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			parents := make([]string, 10)
			for i := range parents {
				parents[i] = fmt.Sprintf("$new%d", i)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.RelationRows(ctx, "!r:x", parents, []string{"m.replace", "m.reference", "m.thread"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
