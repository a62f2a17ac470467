package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"foyer/internal/storage"
	"foyer/internal/testharness"
)

// Concurrent sends to one room share database commits (group commit);
// these tests hold it to what one commit per send gave: one linear DAG,
// every acknowledged event stored, in one order for /sync and /messages,
// a transaction ID sent twice at once is one event, a failed commit
// stores none of its events, and a SIGKILL loses no acknowledged event.

// dbEvent is an event as the database holds it.
type dbEvent struct {
	ID, Type, Body string
	Prev           []string
	Depth          int64
}

// storedRoom reads a room's events in stream order straight from the
// database, with the prev_events that clients are not shown.
func storedRoom(t *testing.T, dataDir, databaseURL, roomID string) []dbEvent {
	t.Helper()
	db, err := storage.Open(context.Background(), databaseURL, dataDir, storage.AccountLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Read.Query(`SELECT event_id, json FROM events WHERE room_id = $1 AND outlier = FALSE ORDER BY stream_pos`, roomID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []dbEvent
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Type    string   `json:"type"`
			Prev    []string `json:"prev_events"`
			Depth   int64    `json:"depth"`
			Content struct {
				Body string `json:"body"`
			} `json:"content"`
		}
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, dbEvent{ID: id, Type: ev.Type, Body: ev.Content.Body, Prev: ev.Prev, Depth: ev.Depth})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkLinear fails unless each event names the one stored before it as
// its only prev_event, one deeper.
func checkLinear(t *testing.T, events []dbEvent) {
	t.Helper()
	for i := 1; i < len(events); i++ {
		e, before := events[i], events[i-1]
		if !slices.Equal(e.Prev, []string{before.ID}) || e.Depth != before.Depth+1 {
			t.Fatalf("event %d (%s, depth %d) follows %v, not only %s (depth %d): the DAG is not linear",
				i, e.ID, e.Depth, e.Prev, before.ID, before.Depth)
		}
	}
}

// sendConcurrently has each of senders send perSender messages at once
// (bodies "s<sender>-<i>", transaction IDs likewise) and returns the
// acknowledged event IDs by body and the bodies whose sends failed.
func sendConcurrently(do func(method, path, token string, body any) (*testharness.Response, error), room string, senders []string, perSender int) (acked map[string]string, failed []string) {
	rooms := make([]string, len(senders))
	for i := range rooms {
		rooms[i] = room
	}
	return sendConcurrentlyTo(do, rooms, senders, perSender)
}

// sendConcurrentlyTo is sendConcurrently with each sender's own room.
func sendConcurrentlyTo(do func(method, path, token string, body any) (*testharness.Response, error), rooms, senders []string, perSender int) (acked map[string]string, failed []string) {
	acked = map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s, token := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				body := fmt.Sprintf("s%d-%d", s, i)
				r, err := do("PUT", roomPath(rooms[s], "/send/m.room.message/"+body), token, map[string]any{"msgtype": "m.text", "body": body})
				mu.Lock()
				if err == nil && r.Status == 200 {
					acked[body] = r.Str("event_id")
				} else {
					failed = append(failed, body)
				}
				mu.Unlock()
				if err != nil {
					return // the server is gone
				}
			}
		}()
	}
	wg.Wait()
	return acked, failed
}

// joinedWriters registers n users who join a public room of the first.
func joinedWriters(t *testing.T, hs *testharness.Homeserver, n int) (room string, tokens []string) {
	t.Helper()
	owner := hs.RegisterUser(t, "owner")
	room = createRoom(t, hs, owner.Token, map[string]any{"preset": "public_chat"})
	tokens = []string{owner.Token}
	for i := 1; i < n; i++ {
		u := hs.RegisterUser(t, fmt.Sprintf("writer%d", i))
		mustJoin(t, hs, u.Token, room)
		tokens = append(tokens, u.Token)
	}
	return room, tokens
}

func TestConcurrentSendsMakeOneLinearDAG(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		hs := testharness.Start(t, cfg)
		room, tokens := joinedWriters(t, hs, 8)
		do := func(method, path, token string, body any) (*testharness.Response, error) {
			return hs.DoErr(method, path, token, body)
		}
		acked, failed := sendConcurrently(do, room, tokens, 15)
		if len(failed) > 0 {
			t.Fatalf("%d sends failed, first %s", len(failed), failed[0])
		}

		stored := storedRoom(t, cfg.DataDir, cfg.DatabaseURL, room)
		checkLinear(t, stored)
		storedIDs := map[string]string{}
		for _, e := range stored {
			if e.Type == "m.room.message" {
				storedIDs[e.Body] = e.ID
			}
		}
		if len(storedIDs) != len(acked) {
			t.Fatalf("%d messages stored, %d acknowledged", len(storedIDs), len(acked))
		}
		for body, id := range acked {
			if storedIDs[body] != id {
				t.Fatalf("%s acknowledged as %s, stored as %q", body, id, storedIDs[body])
			}
		}

		// /sync and /messages list the room in the stored order.
		var want []string
		for _, e := range stored {
			want = append(want, e.ID)
		}
		filter := url.QueryEscape(`{"room":{"timeline":{"limit":1000}}}`)
		s := hs.Do(t, "GET", cs+"/sync?filter="+filter, tokens[0], nil)
		if s.Status != 200 {
			t.Fatalf("sync: %s", s)
		}
		var body struct {
			NextBatch string `json:"next_batch"`
			Rooms     struct {
				Join map[string]struct {
					Timeline struct {
						Events []struct {
							EventID string `json:"event_id"`
						} `json:"events"`
					} `json:"timeline"`
				} `json:"join"`
			} `json:"rooms"`
		}
		if err := json.Unmarshal(s.Raw, &body); err != nil {
			t.Fatal(err)
		}
		var synced []string
		for _, e := range body.Rooms.Join[room].Timeline.Events {
			synced = append(synced, e.EventID)
		}
		if !slices.Equal(synced, want) {
			t.Fatalf("sync's timeline (%d events) is not the stored order (%d events)", len(synced), len(want))
		}
		m := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1000&from="+url.QueryEscape(body.NextBatch)), tokens[0], nil)
		if m.Status != 200 {
			t.Fatalf("messages: %s", m)
		}
		var paged []string
		chunk, _ := m.JSON["chunk"].([]any)
		for _, e := range chunk {
			paged = append(paged, e.(map[string]any)["event_id"].(string))
		}
		slices.Reverse(paged)
		if !slices.Equal(paged, want) {
			t.Fatalf("/messages (%d events) is not the stored order (%d events)", len(paged), len(want))
		}
	})
}

func TestSameTxnIDSentConcurrentlyIsOneEvent(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		hs := testharness.Start(t, cfg)
		room, tokens := joinedWriters(t, hs, 4)
		// Other writers keep the room's commits busy, so the repeats
		// land in queued batches, some in the same one.
		stop := make(chan struct{})
		var busy sync.WaitGroup
		for w, token := range tokens[1:] {
			busy.Add(1)
			go func() {
				defer busy.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					hs.DoErr("PUT", roomPath(room, fmt.Sprintf("/send/m.room.message/busy%d-%d", w, i)), token,
						map[string]any{"msgtype": "m.text", "body": "busy"})
				}
			}()
		}
		for round := range 5 {
			txn := fmt.Sprintf("same%d", round)
			ids := make([]string, 8)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := hs.Do(t, "PUT", roomPath(room, "/send/m.room.message/"+txn), tokens[0], map[string]any{"msgtype": "m.text", "body": txn})
					if r.Status != 200 {
						t.Errorf("send %s: %s", txn, r)
					}
					ids[i] = r.Str("event_id")
				}()
			}
			wg.Wait()
			for _, id := range ids {
				if id != ids[0] {
					t.Fatalf("transaction %s answered with %s and %s", txn, ids[0], id)
				}
			}
		}
		close(stop)
		busy.Wait()
		counts := map[string]int{}
		for _, e := range storedRoom(t, cfg.DataDir, cfg.DatabaseURL, room) {
			counts[e.Body]++
		}
		for round := range 5 {
			if n := counts[fmt.Sprintf("same%d", round)]; n != 1 {
				t.Fatalf("transaction same%d stored %d events", round, n)
			}
		}
	})
}

// injectFailure makes the database refuse to store any event whose JSON
// holds marker, as a failing disk or a lost connection would.
func injectFailure(t *testing.T, dataDir, databaseURL, marker string) {
	t.Helper()
	db, err := storage.Open(context.Background(), databaseURL, dataDir, storage.AccountLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{fmt.Sprintf(`CREATE TRIGGER inject_failure BEFORE INSERT ON events
		WHEN NEW.json LIKE '%%%s%%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`, marker)}
	if db.Dialect == storage.Postgres {
		stmts = []string{
			fmt.Sprintf(`CREATE FUNCTION inject_failure() RETURNS trigger AS $f$ BEGIN
				IF NEW.json::text LIKE '%%%s%%' THEN RAISE EXCEPTION 'injected failure'; END IF;
				RETURN NEW; END $f$ LANGUAGE plpgsql`, marker),
			`CREATE TRIGGER inject_failure BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION inject_failure()`,
		}
	}
	for _, s := range stmts {
		if _, err := db.Write.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFailedGroupCommitStoresNoneOfItsEvents(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		cfg := testharness.Config(t, backend)
		hs := testharness.Start(t, cfg)
		// Two rooms, whose sends may share a commit.
		room, tokens := joinedWriters(t, hs, 8)
		other := createRoom(t, hs, tokens[0], map[string]any{"preset": "public_chat"})
		rooms := make([]string, len(tokens))
		for i, token := range tokens {
			rooms[i] = room
			if i%2 == 1 {
				rooms[i] = other
				mustJoin(t, hs, token, other)
			}
		}
		injectFailure(t, cfg.DataDir, cfg.DatabaseURL, "s0-4")
		do := func(method, path, token string, body any) (*testharness.Response, error) {
			return hs.DoErr(method, path, token, body)
		}
		acked, failed := sendConcurrentlyTo(do, rooms, tokens, 10)
		if !slices.Contains(failed, "s0-4") {
			t.Fatal("the send whose write was made to fail was acknowledged")
		}
		t.Logf("%d acknowledged, %d failed with it", len(acked), len(failed)-1)
		// The rooms go on: the next sends build on what is stored.
		after := sendMessage(t, hs, tokens[0], room, "after the failure")
		sendMessage(t, hs, tokens[1], other, "after the failure")

		byBody := map[string]string{}
		stored := storedRoom(t, cfg.DataDir, cfg.DatabaseURL, room)
		for _, r := range []string{room, other} {
			events := storedRoom(t, cfg.DataDir, cfg.DatabaseURL, r)
			checkLinear(t, events)
			for _, e := range events {
				byBody[e.Body] = e.ID
			}
		}
		for body, id := range acked {
			if byBody[body] != id {
				t.Fatalf("%s acknowledged as %s but stored as %q", body, id, byBody[body])
			}
		}
		for _, body := range failed {
			if id, ok := byBody[body]; ok {
				t.Fatalf("%s failed but is stored as %s", body, id)
			}
		}
		if stored[len(stored)-1].ID != after {
			t.Fatalf("the send after the failure is not the room's last event")
		}
	})
}

func TestConcurrentSendsSurviveKill9(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		args := append(storageArgs(t, backend), "--listen", "127.0.0.1:0", "--registration", "open")
		dataDir, databaseURL := args[slices.Index(args, "--data-dir")+1], ""
		if i := slices.Index(args, "--database-url"); i >= 0 {
			databaseURL = args[i+1]
		}
		env := foyerEnv()
		p := startFoyerProc(t, args, env)
		owner := p.must("POST", cs+"/register", "", map[string]any{"username": "owner", "password": "pw-owner",
			"auth": map[string]any{"type": "m.login.dummy"}})
		room := p.must("POST", cs+"/createRoom", owner.Str("access_token"), map[string]any{"preset": "public_chat"}).Str("room_id")
		tokens := []string{owner.Str("access_token")}
		for i := 1; i < 8; i++ {
			name := fmt.Sprintf("writer%d", i)
			r := p.must("POST", cs+"/register", "", map[string]any{"username": name, "password": "pw-" + name,
				"auth": map[string]any{"type": "m.login.dummy"}})
			if j := p.must("POST", roomPath(room, "/join"), r.Str("access_token"), map[string]any{}); j.Status != 200 {
				t.Fatalf("join: %s", j)
			}
			tokens = append(tokens, r.Str("access_token"))
		}

		var acked map[string]string
		done := make(chan struct{})
		go func() {
			defer close(done)
			acked, _ = sendConcurrently(p.do, room, tokens, 1000)
		}()
		time.Sleep(1500 * time.Millisecond)
		p.kill9()
		<-done
		if len(acked) == 0 {
			t.Fatal("no send was acknowledged before the kill")
		}

		q := startFoyerProc(t, args, env)
		for body, id := range acked {
			if r := q.must("GET", roomPath(room, "/event/"+url.PathEscape(id)), tokens[0], nil); r.Status != 200 {
				t.Fatalf("%s, acknowledged as %s before the kill, is gone after it: %s", body, id, r)
			}
		}
		stored := storedRoom(t, dataDir, databaseURL, room)
		checkLinear(t, stored)
		t.Logf("%d sends acknowledged before the kill, %d events stored", len(acked), len(stored))
	})
}
