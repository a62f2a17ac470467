package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// clusterSync is the part of a sync answer these tests read.
type clusterSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []struct {
					EventID string         `json:"event_id"`
					Content map[string]any `json:"content"`
				} `json:"events"`
			} `json:"timeline"`
			Ephemeral struct {
				Events []struct {
					Type    string         `json:"type"`
					Content map[string]any `json:"content"`
				} `json:"events"`
			} `json:"ephemeral"`
		} `json:"join"`
	} `json:"rooms"`
	ToDevice struct {
		Events []struct {
			Type    string         `json:"type"`
			Sender  string         `json:"sender"`
			Content map[string]any `json:"content"`
		} `json:"events"`
	} `json:"to_device"`
}

func clusterSyncOn(t *testing.T, hs *testharness.Homeserver, token, since string, timeoutMS int) clusterSync {
	t.Helper()
	q := fmt.Sprintf("?timeout=%d", timeoutMS)
	if since != "" {
		q += "&since=" + url.QueryEscape(since)
	}
	r := hs.Do(t, "GET", cs+"/sync"+q, token, nil)
	if r.Status != 200 {
		t.Fatalf("sync on %s: %s", hs.URL, r)
	}
	var s clusterSync
	if err := json.Unmarshal(r.Raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Three processes on one PostgreSQL database: the first writes, the
// others forward, and a client may use any of them for anything.
func TestClusterAnyRequestToAnyProcess(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	procs := testharness.StartCluster(t, cfg, 3)
	writer, f1, f2 := procs[0], procs[1], procs[2]
	if !writer.Server.Writing() || f1.Server.Writing() || f2.Server.Writing() {
		t.Fatalf("roles: writer %v, followers %v %v", writer.Server.Writing(), f1.Server.Writing(), f2.Server.Writing())
	}

	// Registered on one, logged in on another, used on the third.
	alice := f1.RegisterUser(t, "alice")
	login := f2.Do(t, "POST", cs+"/login", "", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": alice.Password})
	if login.Status != 200 {
		t.Fatalf("login on a follower: %s", login)
	}
	if r := writer.Do(t, "GET", cs+"/account/whoami", login.Str("access_token"), nil); r.Status != 200 || r.Str("user_id") != alice.UserID {
		t.Fatalf("whoami on the writer with a token from a follower: %s", r)
	}
	bob := writer.RegisterUser(t, "bob")
	room := createRoom(t, f2, alice.Token, map[string]any{"preset": "public_chat"})
	mustJoin(t, f1, bob.Token, room)

	// A long-poll on one follower wakes for a send through the other.
	since := clusterSyncOn(t, f1, bob.Token, "", 0).NextBatch
	woken := make(chan clusterSync, 1)
	go func() {
		r, err := f1.DoErr("GET", cs+"/sync?timeout=20000&since="+url.QueryEscape(since), bob.Token, nil)
		var s clusterSync
		if err == nil && r.Status == 200 {
			_ = json.Unmarshal(r.Raw, &s)
		}
		woken <- s
	}()
	time.Sleep(300 * time.Millisecond) // the long-poll is waiting on the writer
	sent := time.Now()
	msg := sendMessage(t, f2, alice.Token, room, "across processes")
	select {
	case s := <-woken:
		evs := s.Rooms.Join[room].Timeline.Events
		if len(evs) == 0 || evs[len(evs)-1].EventID != msg {
			t.Fatalf("the woken long-poll does not end with the message %s: %+v", msg, evs)
		}
		t.Logf("a long-poll on one follower answered %v after a send through another began", time.Since(sent).Round(time.Millisecond))
		since = s.NextBatch
	case <-time.After(15 * time.Second):
		t.Fatal("a long-poll on one process did not wake for a send through another")
	}

	// One transaction ID sent through two processes at once is one event.
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for i, p := range []*testharness.Homeserver{f1, f2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.DoErr("PUT", roomPath(room, "/send/m.room.message/same-txn"), alice.Token, map[string]any{"msgtype": "m.text", "body": "once"})
			if err == nil && r.Status == 200 {
				ids[i] = r.Str("event_id")
			}
		}()
	}
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("one transaction ID through two processes: event IDs %q", ids)
	}

	// Typing through one process, seen in a sync on another.
	if r := f2.Do(t, "PUT", roomPath(room, "/typing/"+url.PathEscape(alice.UserID)), alice.Token, map[string]any{"typing": true, "timeout": 30000}); r.Status != 200 {
		t.Fatalf("typing: %s", r)
	}
	// To-device through one process, received through another.
	if r := f1.Do(t, "PUT", cs+"/sendToDevice/m.test.ping/txn-1", alice.Token, map[string]any{
		"messages": map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 1}}}}); r.Status != 200 {
		t.Fatalf("sendToDevice: %s", r)
	}
	var typing, toDevice bool
	for deadline := time.Now().Add(10 * time.Second); (!typing || !toDevice) && time.Now().Before(deadline); {
		s := clusterSyncOn(t, f2, bob.Token, since, 5000) // held by the follower
		for _, e := range s.Rooms.Join[room].Ephemeral.Events {
			if users, _ := e.Content["user_ids"].([]any); e.Type == "m.typing" && slices.Contains(users, any(alice.UserID)) {
				typing = true
			}
		}
		for _, e := range s.ToDevice.Events {
			if e.Type == "m.test.ping" && e.Sender == alice.UserID {
				toDevice = true
			}
		}
		since = s.NextBatch
	}
	if !typing || !toDevice {
		t.Fatalf("across processes: typing seen %v, to-device seen %v", typing, toDevice)
	}
}

// 100 concurrent sends spread over three processes make one linear room,
// every acknowledged one stored once.
func TestClusterConcurrentSendsMakeOneLinearRoom(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	procs := testharness.StartCluster(t, cfg, 3)
	room, tokens := joinedWriters(t, procs[1], 10)
	var next sync.Mutex
	n := 0
	do := func(method, path, token string, body any) (*testharness.Response, error) {
		next.Lock()
		p := procs[n%len(procs)]
		n++
		next.Unlock()
		return p.DoErr(method, path, token, body)
	}
	acked, failed := sendConcurrently(do, room, tokens, 10)
	if len(failed) > 0 || len(acked) != 100 {
		t.Fatalf("%d acknowledged, %d failed (first %v)", len(acked), len(failed), failed)
	}
	stored := storedRoom(t, cfg.DataDir, cfg.DatabaseURL, room)
	checkLinear(t, stored)
	seen := map[string]string{}
	for _, e := range stored {
		if e.Type == "m.room.message" {
			if _, dup := seen[e.Body]; dup {
				t.Fatalf("%s stored twice", e.Body)
			}
			seen[e.Body] = e.ID
		}
	}
	for body, id := range acked {
		if seen[body] != id {
			t.Fatalf("%s acknowledged as %s, stored as %q", body, id, seen[body])
		}
	}
}

// Guest caps hold exactly across processes: the writer counts every
// registration, wherever it arrived.
func TestClusterGuestCapAcrossProcesses(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	cfg.Guests = true
	cfg.GuestAccess.MaxLive = 7
	procs := testharness.StartCluster(t, cfg, 3)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := procs[i%3].DoErr("POST", cs+"/register?kind=guest", "", map[string]any{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[0]++
				return
			}
			statuses[r.Status]++
		}()
	}
	wg.Wait()
	if statuses[200] != 7 || statuses[0] > 0 || statuses[503] > 0 || statuses[500] > 0 {
		t.Fatalf("30 guest registrations over 3 processes with max_live 7: statuses %v", statuses)
	}
}

// The cluster listener admits only requests carrying the cluster key, and
// a client cannot pass one through a follower or name its own address.
func TestClusterListenerNeedsTheKey(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	procs := testharness.StartCluster(t, cfg, 2)
	addr := procs[0].Server.ClusterAddr()
	if addr == "" {
		t.Fatal("the writer has no cluster address")
	}
	for _, key := range []string{"", "wrong"} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/_matrix/client/versions", nil)
		if key != "" {
			req.Header.Set("X-Foyer-Cluster-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("cluster listener with key %q: %d, want 403", key, resp.StatusCode)
		}
	}
	// A client's own cluster headers are dropped by the follower, which
	// forwards with the real key.
	req, _ := http.NewRequest("GET", procs[1].URL+"/_matrix/client/versions", nil)
	req.Header.Set("X-Foyer-Cluster-Key", "wrong")
	req.Header.Set("X-Foyer-Client-Address", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a request with forged cluster headers through a follower: %d", resp.StatusCode)
	}
}

// A follower holds its clients' long-polls itself, woken through the
// database's LISTEN/NOTIFY feed; the writer holds none of them. When the
// feed's connection is cut, the follower's long-polls look again each
// second and the feed reconnects.
func TestClusterFollowerHoldsLongPolls(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	procs := testharness.StartCluster(t, cfg, 2)
	writer, follower := procs[0], procs[1]
	alice := writer.RegisterUser(t, "alice")
	bob := follower.RegisterUser(t, "bob")
	room := createRoom(t, writer, alice.Token, map[string]any{"preset": "public_chat"})
	mustJoin(t, follower, bob.Token, room)

	poll := func(since string) (chan clusterSync, func()) {
		out := make(chan clusterSync, 1)
		go func() {
			r, err := follower.DoErr("GET", cs+"/sync?timeout=20000&since="+url.QueryEscape(since), bob.Token, nil)
			var s clusterSync
			if err == nil && r.Status == 200 {
				_ = json.Unmarshal(r.Raw, &s)
			}
			out <- s
		}()
		return out, func() { waitHeld(t, follower) }
	}
	expect := func(out chan clusterSync, msg string) clusterSync {
		t.Helper()
		select {
		case s := <-out:
			evs := s.Rooms.Join[room].Timeline.Events
			if len(evs) == 0 || evs[len(evs)-1].EventID != msg {
				t.Fatalf("the long-poll held by the follower does not end with %s: %+v", msg, evs)
			}
			return s
		case <-time.After(15 * time.Second):
			t.Fatal("the long-poll held by the follower was not woken")
		}
		return clusterSync{}
	}

	since := clusterSyncOn(t, follower, bob.Token, "", 0).NextBatch
	out, waitHeld := poll(since)
	waitHeld()
	if n := writer.Server.Services.Sync.Notifier().Waiting(); n != 0 {
		t.Fatalf("the writer holds %d long-polls; the follower should hold its own", n)
	}
	sent := time.Now()
	msg := sendMessage(t, writer, alice.Token, room, "woken through the feed")
	since = expect(out, msg).NextBatch
	t.Logf("woken %v after the send began", time.Since(sent).Round(time.Millisecond))

	// Cut the follower's LISTEN connection: long-polls still wake.
	db, err := sql.Open("pgx", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	listeners := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN foyer_wakes' AND datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if listeners() != 1 {
		t.Fatalf("%d wake-feed listeners, want the follower's one", listeners())
	}
	if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN foyer_wakes' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	out, waitHeld = poll(since)
	waitHeld()
	msg = sendMessage(t, writer, alice.Token, room, "woken without the feed")
	expect(out, msg)
	for deadline := time.Now().Add(10 * time.Second); listeners() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the wake feed did not reconnect")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Sliding sync's long-polls are held by the follower too: woken through
// the feed, and answered at their timeout with the connection's final
// answer from the writer, so the connection goes on.
func TestClusterFollowerHoldsSlidingSync(t *testing.T) {
	cfg := testharness.Config(t, "postgres")
	procs := testharness.StartCluster(t, cfg, 2)
	writer, follower := procs[0], procs[1]
	alice := writer.RegisterUser(t, "alice")
	bob := follower.RegisterUser(t, "bob")
	room := createRoom(t, writer, alice.Token, map[string]any{"preset": "public_chat"})
	mustJoin(t, follower, bob.Token, room)
	body := map[string]any{"lists": map[string]any{"all": ssList(9, 5)}}

	first := slidingSync(t, follower, bob.Token, "", 0, body)
	// Nothing new: the follower holds it and gives the final answer at
	// the timeout.
	quiet := slidingSync(t, follower, bob.Token, first.Pos, 1000, body)
	if len(quiet.Rooms) != 0 {
		t.Fatalf("a quiet long-poll brought rooms: %+v", quiet.Rooms)
	}

	out := make(chan ssResp, 1)
	go func() { out <- slidingSync(t, follower, bob.Token, quiet.Pos, 20000, body) }()
	waitHeld(t, follower)
	if n := writer.Server.Services.Sync.Notifier().Waiting(); n != 0 {
		t.Fatalf("the writer holds %d long-polls", n)
	}
	sendMessage(t, writer, alice.Token, room, "to a sliding-sync client of the follower")
	select {
	case s := <-out:
		if got := timelineBodies(s.Rooms[room].Timeline); !slices.Contains(got, "to a sliding-sync client of the follower") {
			t.Fatalf("the woken sliding sync's timeline: %v", got)
		}
		// The connection goes on from the position it was given.
		slidingSync(t, follower, bob.Token, s.Pos, 0, body)
	case <-time.After(15 * time.Second):
		t.Fatal("the sliding-sync long-poll held by the follower was not woken")
	}
}

// waitHeld waits until follower holds a long-poll itself.
func waitHeld(t *testing.T, follower *testharness.Homeserver) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); follower.Server.HeldLongPolls() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the follower does not hold the long-poll")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
