package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"foyer/internal/rooms"
)

// The search migration indexes the events stored before it with SQL, and
// must take what rooms.SearchText takes (JSON holding \u0000 aside): this
// runs its backfill statement over hand-made rows on both databases, then
// searches them through the store.
func TestSearchBackfillMatchesSearchText(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		body, err := migrationFiles.ReadFile("migrations/0052_event_search.sql")
		if err != nil {
			t.Fatal(err)
		}
		_, backfill, ok := strings.Cut(string(body), "INSERT INTO event_search")
		if !ok {
			t.Fatal("no backfill statement in 0052_event_search.sql")
		}
		backfill = dialectSQL(db.Dialect, "INSERT INTO event_search"+backfill)
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO rooms (room_id, room_version, creator, created_ts, latest_event_id, depth)
			VALUES ('!r:x', '11', '@a:x', 0, '', 0)`); err != nil {
			t.Fatal(err)
		}
		type row struct {
			id, typ, content string
			stateKey         any
			redacted         bool
			rejected         bool
		}
		rowsIn := []row{
			{id: "$message", typ: "m.room.message", content: `{"body":"kiwi message"}`},
			{id: "$name", typ: "m.room.name", content: `{"name":"kiwi name"}`, stateKey: ""},
			{id: "$topic", typ: "m.room.topic", content: `{"topic":"kiwi topic"}`, stateKey: ""},
			{id: "$number", typ: "m.room.message", content: `{"body":5}`},
			{id: "$object", typ: "m.room.message", content: `{"body":{"kiwi":"x"}}`},
			{id: "$nul", typ: "m.room.message", content: `{"body":"kiwi\u0000nul"}`},
			{id: "$redacted", typ: "m.room.message", content: `{"body":"kiwi redacted"}`, redacted: true},
			{id: "$rejected", typ: "m.room.message", content: `{"body":"kiwi rejected"}`, rejected: true},
			{id: "$statemessage", typ: "m.room.message", content: `{"body":"kiwi state"}`, stateKey: ""},
			{id: "$keyedname", typ: "m.room.name", content: `{"name":"kiwi keyed"}`, stateKey: "x"},
			{id: "$other", typ: "m.room.encrypted", content: `{"body":"kiwi other"}`},
			{id: "$topicbody", typ: "m.room.topic", content: `{"body":"kiwi topicbody"}`, stateKey: ""},
		}
		for i, r := range rowsIn {
			var redactedBy any
			if r.redacted {
				redactedBy = "$red"
			}
			js := fmt.Sprintf(`{"event_id":%q,"type":%q,"content":%s}`, r.id, r.typ, r.content)
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, history_visibility,
				depth, origin_server_ts, json, redacted_by, rejected) VALUES ($1, $2, '!r:x', $3, $4, '@a:x', 'shared', $5, 0, $6, $7, $8)`,
				i+1, r.id, r.typ, r.stateKey, i+1, js, redactedBy, r.rejected); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Write.ExecContext(ctx, backfill); err != nil {
			t.Fatalf("backfill: %v\n%s", err, backfill)
		}
		q := `SELECT rowid FROM event_search WHERE event_search MATCH 'kiwi' ORDER BY rowid`
		if db.Dialect == Postgres {
			q = `SELECT stream_pos FROM event_search WHERE vector @@ to_tsquery('english', 'kiwi') ORDER BY stream_pos`
		}
		rows, err := db.Read.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var pos int
			if err := rows.Scan(&pos); err != nil {
				t.Fatal(err)
			}
			got = append(got, rowsIn[pos-1].id)
		}
		if want := []string{"$message", "$name", "$topic"}; !slices.Equal(got, want) {
			t.Errorf("indexed %v, want %v", got, want)
		}
		// The store's query counts them, whatever the term's syntax (the
		// rows are not whole events, so they are counted, not read).
		store := NewRoomStore(db)
		for term, want := range map[string]int{"KIWI": 3, "kiw": 3, `"kiwi topic"`: 1, "kiwi -topic": 2, `"*" kiwi'`: 3, "kiwi OR nothing": 3, "-kiwi": 0} {
			n, err := store.CountSearch(ctx, rooms.SearchQuery{Viewer: "@a:x", RoomIDs: []string{"!r:x"}, Expr: rooms.ParseSearchTerm(term),
				Types: []string{"m.room.message", "m.room.name", "m.room.topic"}})
			if err != nil {
				t.Fatalf("search %q: %v", term, err)
			}
			if n != want {
				t.Errorf("search %q: %d hits, want %d", term, n, want)
			}
		}
	})
}
