package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
	"foyer/internal/testharness/pgtest"
)

// federatedProcs are the command lines of servers run as `foyer serve`
// processes the way an operator federates them on a private network:
// each named localhost:TLSPORT and serving TLS on that port with a
// certificate from a CA made for the test, trusting that CA and allowed
// to reach loopback through the two outbound variables.
type federatedProcs struct {
	args [][]string
	env  []string
}

func newFederatedProcs(t *testing.T, backend string, n int) federatedProcs {
	t.Helper()
	ca := outboundtest.NewCA(t)
	certFile, keyFile := ca.ServerCertificateFiles(t, "localhost")
	fp := federatedProcs{env: foyerEnv(
		"FOYER_OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true",
		"FOYER_OUTBOUND_TRUSTED_CA_FILE="+ca.WriteFile(t),
		"FOYER_SHUTDOWN_TIMEOUT="+shutdownGrace.String(),
	)}
	for range n {
		tlsPort := testharness.FreeLoopbackPort(t)
		args := []string{
			"--server-name", "localhost:" + tlsPort,
			"--listen", "127.0.0.1:" + testharness.FreeLoopbackPort(t),
			"--tls-listen", "127.0.0.1:" + tlsPort,
			"--tls-cert", certFile, "--tls-key", keyFile,
			"--data-dir", t.TempDir(),
			"--registration", "open",
		}
		if backend == "postgres" {
			args = append(args, "--database-url", pgtest.URL(t))
		}
		fp.args = append(fp.args, args)
	}
	return fp
}

func (fp federatedProcs) start(t *testing.T, i int) *foyerProc {
	t.Helper()
	return startFoyerProc(t, fp.args[i], fp.env)
}

func (fp federatedProcs) serverName(i int) string { return flagValue(fp.args[i], "--server-name") }

// registerProcUser registers username with a password on p and returns
// its user ID and access token.
func registerProcUser(t *testing.T, p *foyerProc, username string) (userID, token string) {
	t.Helper()
	r := p.must("POST", cs+"/register", "", map[string]any{
		"username": username, "password": "pw-" + username,
		"auth": map[string]any{"type": "m.login.dummy"},
	})
	if r.Status != 200 || r.Str("access_token") == "" {
		t.Fatalf("registering %s: %s", username, r)
	}
	return r.Str("user_id"), r.Str("access_token")
}

func sendProcMessage(t *testing.T, p *foyerProc, token, roomID, body string) {
	t.Helper()
	r := p.must("PUT", roomPath(roomID, fmt.Sprintf("/send/m.room.message/txn%d", txnCounter.Add(1))), token,
		map[string]any{"msgtype": "m.text", "body": body})
	if r.Status != 200 {
		t.Fatalf("send %q: %s", body, r)
	}
}

// procTimeline follows one room of one user through a chain of
// incremental /sync requests, keeping every timeline event it was shown,
// across restarts of the user's server.
type procTimeline struct {
	token, roomID, since string
	events               []syncEvent
}

var procTimelineFilter = url.QueryEscape(`{"room":{"timeline":{"limit":100}}}`)

// poll makes one /sync (long-polling briefly) and keeps the room's events.
func (tl *procTimeline) poll(t *testing.T, p *foyerProc) {
	t.Helper()
	q := "/sync?timeout=300&filter=" + procTimelineFilter
	if tl.since != "" {
		q += "&since=" + url.QueryEscape(tl.since)
	}
	r, err := p.do("GET", cs+q, tl.token, nil)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if r.Status != 200 {
		t.Fatalf("sync: %s", r)
	}
	var s syncResp
	if err := json.Unmarshal(r.Raw, &s); err != nil || s.NextBatch == "" {
		t.Fatalf("sync answer without next_batch (%v): %s", err, r)
	}
	jr := s.Rooms.Join[tl.roomID]
	if jr.Timeline.Limited && tl.since != "" {
		t.Fatalf("an incremental sync gave a limited timeline; events would be missed: %s", r)
	}
	tl.events = append(tl.events, jr.Timeline.Events...)
	tl.since = s.NextBatch
}

// waitFor polls until every body has been shown, within a deadline
// generous enough for a destination's retry after its backoff.
func (tl *procTimeline) waitFor(t *testing.T, p *foyerProc, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tl.poll(t, p)
		seen := bodies(tl.events)
		if !slices.ContainsFunc(want, func(b string) bool { return !slices.Contains(seen, b) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not all shown in /sync within 30s; shown: %q", want, seen)
		}
	}
}

// checkOnceInOrder fails the test unless each of want appears exactly
// once among got, in the order of want.
func checkOnceInOrder(t *testing.T, where string, got, want []string) {
	t.Helper()
	var order []string
	for _, b := range got {
		if slices.Contains(want, b) {
			order = append(order, b)
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("%s: want %q exactly once each and in this order, got %q (all: %q)", where, want, order, got)
	}
}

// messagesFromStart is the room's whole timeline of messages on p, oldest
// first, from backward /messages pages.
func messagesFromStart(t *testing.T, p *foyerProc, token, roomID string) []string {
	t.Helper()
	var newestFirst []string
	from := ""
	for range 20 {
		q := "/messages?dir=b&limit=50"
		if from != "" {
			q += "&from=" + url.QueryEscape(from)
		}
		r := p.must("GET", roomPath(roomID, q), token, nil)
		if r.Status != 200 {
			t.Fatalf("/messages: %s", r)
		}
		var page struct {
			Chunk []syncEvent `json:"chunk"`
			End   string      `json:"end"`
		}
		if err := json.Unmarshal(r.Raw, &page); err != nil {
			t.Fatal(err)
		}
		newestFirst = append(newestFirst, bodies(page.Chunk)...)
		if page.End == "" || len(page.Chunk) == 0 {
			break
		}
		from = page.End
	}
	slices.Reverse(newestFirst)
	return newestFirst
}

// queuedInProcDB is the JSON of every PDU queued for destination in the
// database of the server started with args, read while that server is down.
func queuedInProcDB(t *testing.T, backend string, args []string, destination string) string {
	t.Helper()
	db := openProcDB(t, backend, args)
	defer db.Close()
	rows, err := db.Query(`SELECT json FROM federation_queue WHERE destination = $1 AND kind = 'pdu' ORDER BY position`, destination)
	if err != nil {
		t.Fatalf("reading federation_queue: %v", err)
	}
	defer rows.Close()
	var all strings.Builder
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			t.Fatal(err)
		}
		all.WriteString(js)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return all.String()
}

// Two real `foyer serve` processes, started with exactly the flags and
// variables an operator uses on a private network, federate: a user of B
// joins a room of A by room ID, messages go both ways. Then B is stopped,
// A queues three messages for it and is killed with SIGKILL while B is
// still down; A restarts on the same data and ports, B comes back, and
// the three messages reach B's user's /sync once each and in order, read
// from A's queue in its database. Both databases.
func TestFederationProcessesCatchUpAfterSenderKill9(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		began := time.Now()
		fp := newFederatedProcs(t, backend, 2)
		a, b := fp.start(t, 0), fp.start(t, 1)
		nameA, nameB := fp.serverName(0), fp.serverName(1)

		_, aliceToken := registerProcUser(t, a, "alice")
		bobID, bobToken := registerProcUser(t, b, "bob")
		if !strings.HasSuffix(bobID, ":"+nameB) {
			t.Fatalf("bob's user ID %s is not of server %s", bobID, nameB)
		}
		cr := a.must("POST", cs+"/createRoom", aliceToken, map[string]any{"preset": "public_chat"})
		if cr.Status != 200 || cr.Str("room_id") == "" {
			t.Fatalf("createRoom: %s", cr)
		}
		room := cr.Str("room_id")
		jr := b.must("POST", cs+"/join/"+url.PathEscape(room)+"?server_name="+url.QueryEscape(nameA), bobToken, map[string]any{})
		if jr.Status != 200 || jr.Str("room_id") != room {
			t.Fatalf("bob's join through %s: %s", nameA, jr)
		}
		aliceTL := &procTimeline{token: aliceToken, roomID: room}
		bobTL := &procTimeline{token: bobToken, roomID: room}
		aliceTL.poll(t, a)
		bobTL.poll(t, b)

		sendProcMessage(t, a, aliceToken, room, "from A 1")
		bobTL.waitFor(t, b, "from A 1")
		sendProcMessage(t, b, bobToken, room, "from B 1")
		aliceTL.waitFor(t, a, "from B 1")

		// B goes down cleanly; A queues three messages for it.
		terminate(t, b)
		outage := []string{"while B is down 1", "while B is down 2", "while B is down 3"}
		for _, body := range outage {
			sendProcMessage(t, a, aliceToken, room, body)
		}
		// A dies without any clean-up while B is still down: what it owes
		// B is only in its database.
		a.kill9()
		queued := queuedInProcDB(t, backend, fp.args[0], nameB)
		for _, body := range outage {
			if !strings.Contains(queued, body) {
				t.Fatalf("A's queue for B lacks %q after the kill: %s", body, queued)
			}
		}

		restarted := time.Now()
		a = fp.start(t, 0)
		b = fp.start(t, 1)
		bobTL.waitFor(t, b, outage...)
		t.Logf("%s: the queued messages reached B %v after A's restart began", backend, time.Since(restarted).Round(time.Millisecond))
		checkOnceInOrder(t, "B's /sync after the outage", bodies(bobTL.events), append([]string{"from A 1", "from B 1"}, outage...))

		sendProcMessage(t, a, aliceToken, room, "from A 2")
		bobTL.waitFor(t, b, "from A 2")
		sendProcMessage(t, b, bobToken, room, "from B 2")
		aliceTL.waitFor(t, a, "from B 2")
		bobTL.waitFor(t, b, "from B 2")

		all := append(append([]string{"from A 1", "from B 1"}, outage...), "from A 2", "from B 2")
		checkOnceInOrder(t, "B's /sync", bodies(bobTL.events), all)
		checkOnceInOrder(t, "A's /sync", bodies(aliceTL.events), all)
		checkOnceInOrder(t, "B's /messages", messagesFromStart(t, b, bobToken, room), all)
		checkOnceInOrder(t, "A's /messages", messagesFromStart(t, a, aliceToken, room), all)
		if n := len(bodies(bobTL.events)); n != len(all) {
			t.Errorf("B's /sync showed %d messages, want %d: %q", n, len(all), bodies(bobTL.events))
		}
		for name, p := range map[string]*foyerProc{"A": a, "B": b} {
			if strings.Contains(p.stderr.String(), "level=ERROR") {
				t.Errorf("restarted %s logged errors:\n%s", name, tail(p.stderr.String()))
			}
		}
		t.Logf("%s: %v", backend, time.Since(began).Round(time.Millisecond))
	})
}
