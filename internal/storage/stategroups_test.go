package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"foyer/internal/rooms/matrixevents"
)

// migration0032Data is the part of 0032_room_dag.sql that carries
// existing rooms over: the extremities and the state groups.
func migration0032Data(t *testing.T, d Dialect) []string {
	body, err := migrationFiles.ReadFile("migrations/0032_room_dag.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	_, rest, _ := strings.Cut(string(body), "INSERT INTO room_extremities")
	ext, _, _ := strings.Cut(rest, ";")
	out = append(out, "INSERT INTO room_extremities"+ext)
	_, data, ok := strings.Cut(string(body), "-- Existing data.")
	if !ok {
		t.Fatal("no existing-data section in 0032_room_dag.sql")
	}
	// Drop comment lines, then split into statements.
	var lines []string
	for line := range strings.SplitSeq(data, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			lines = append(lines, line)
		}
	}
	for stmt := range strings.SplitSeq(strings.Join(lines, "\n"), ";") {
		if s := strings.TrimSpace(stmt); s != "" {
			out = append(out, dialectSQL(d, s))
		}
	}
	return out
}

// The migration to the DAG model builds, from a linear room's events,
// state groups whose state after each event is the latest state event
// per key at or before it (what the linear model derived), with chains
// no longer than maxStateChain.
func TestRoomDAGMigrationCarriesLinearRooms(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		for _, q := range []string{`DELETE FROM state_group_entries`, `DELETE FROM state_groups`, `DELETE FROM room_extremities`,
			`INSERT INTO rooms (room_id, room_version, creator, created_ts, latest_event_id, depth) VALUES ('!r:x', '11', '@a:x', 0, '$e100', 100)`} {
			if _, err := db.Write.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		// 100 events: every third a state event on one of 5 keys, the rest
		// messages; stream positions start at 1000 with gaps.
		type row struct {
			pos      int64
			id       string
			stateKey *string
		}
		var events []row
		for i := 1; i <= 100; i++ {
			r := row{pos: 1000 + int64(i)*3, id: fmt.Sprintf("$e%d", i)}
			if i%3 == 1 {
				sk := fmt.Sprintf("@u%d:x", i%5)
				r.stateKey = &sk
			}
			typ := "m.room.message"
			if r.stateKey != nil {
				typ = "m.room.member"
			}
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, history_visibility,
				depth, origin_server_ts, json) VALUES ($1, $2, '!r:x', $3, $4, '@a:x', 'shared', $5, 0, '{}')`,
				r.pos, r.id, typ, r.stateKey, i); err != nil {
				t.Fatal(err)
			}
			events = append(events, r)
		}
		for _, q := range migration0032Data(t, db.Dialect) {
			if _, err := db.Write.ExecContext(ctx, q); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
		}
		want := map[matrixevents.StateTuple]string{}
		for _, r := range events {
			if r.stateKey != nil {
				want[matrixevents.StateTuple{Type: "m.room.member", StateKey: *r.stateKey}] = r.id
			}
			var group sql.NullInt64
			if err := db.Read.QueryRowContext(ctx, `SELECT state_group FROM events WHERE event_id = $1`, r.id).Scan(&group); err != nil {
				t.Fatal(err)
			}
			got, err := readStateGroup(ctx, db.Read, group.Int64)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("state after %s: got %v, want %v", r.id, got, want)
			}
		}
		var maxChain int
		if err := db.Read.QueryRowContext(ctx, `SELECT MAX(chain_len) FROM state_groups`).Scan(&maxChain); err != nil {
			t.Fatal(err)
		}
		if maxChain >= maxStateChain {
			t.Errorf("a state group chain is %d long", maxChain)
		}
		var extremity string
		var roomGroup int64
		if err := db.Read.QueryRowContext(ctx, `SELECT x.event_id, r.state_group FROM room_extremities x JOIN rooms r ON r.room_id = x.room_id`).Scan(&extremity, &roomGroup); err != nil {
			t.Fatal(err)
		}
		if extremity != "$e100" || roomGroup != 1000+100*3 {
			t.Errorf("extremity %s, current group %d; want $e100 and the group of $e100", extremity, roomGroup)
		}
	})
}

// A state group written as a delta and one written full (the chain too
// long) read back the same state; a removal entry drops its key.
func TestStateGroupsDeltaAndFull(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		want := map[matrixevents.StateTuple]string{}
		prev := int64(0)
		for i := int64(1); i <= 2*maxStateChain+3; i++ {
			k := matrixevents.StateTuple{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", i%7)}
			delta := map[matrixevents.StateTuple]string{k: fmt.Sprintf("$e%d", i)}
			want[k] = delta[k]
			if i%10 == 0 {
				gone := matrixevents.StateTuple{Type: "m.room.member", StateKey: fmt.Sprintf("@u%d:x", (i+1)%7)}
				delta[gone] = ""
				delete(want, gone)
			}
			err := db.WithTx(ctx, func(tx *sql.Tx) error { return writeStateGroup(ctx, tx, i, "!r:x", prev, delta) })
			if err != nil {
				t.Fatal(err)
			}
			got, err := readStateGroup(ctx, db.Read, i)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("group %d: got %v, want %v", i, got, want)
			}
			prev = i
		}
	})
}
