package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/outbound/outboundtest"
	"foyer/internal/rooms"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// dagRemote is a fake remote server that the local server reaches over
// TLS by its name alone (localhost:PORT), as deployed: it answers
// get_missing_events, state_ids, state, event and backfill from the
// events a test gives it, and hands every other request (its signing
// keys) to a real server of the same name, whose key signs its events.
type dagRemote struct {
	*remoteServer
	mu       sync.Mutex
	events   map[string]matrixevents.Event
	stateIDs map[string][]string // the state before an event, by event ID
	// tooMany, when set, is answered to state_ids in place of the state.
	tooMany []string
	// noEventAuth makes event_auth unknown, as some servers' is;
	// missingLimit, when set, caps get_missing_events answers.
	noEventAuth  bool
	missingLimit int
	// floatInInvite makes the answer to an invite carry a float, which
	// rooms from version 6 on do not allow.
	floatInInvite bool
	requests      []string
}

// startDAGRemote starts the fake remote and a local server that trusts
// its certificate and may reach loopback.
func startDAGRemote(t *testing.T, backend string) *dagRemote {
	t.Helper()
	ca := outboundtest.NewCA(t)
	port := testharness.FreeLoopbackPort(t)
	name := "localhost:" + port
	keys := startNamed(t, backend, name, nil)
	target, err := url.Parse(keys.URL)
	if err != nil {
		t.Fatal(err)
	}
	d := &dagRemote{events: map[string]matrixevents.Event{}, stateIDs: map[string][]string{}}
	mux := http.NewServeMux()
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux.Handle("/", proxy)
	mux.HandleFunc("PUT /_matrix/federation/v2/invite/{roomId}/{eventId}", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		float := d.floatInInvite
		d.mu.Unlock()
		if !float {
			proxy.ServeHTTP(w, r)
			return
		}
		d.record(r, "invite")
		var body struct {
			Event map[string]any `json:"event"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		body.Event["bad_val"] = 1.1
		writeFakeJSON(w, 200, map[string]any{"event": body.Event})
	})
	mux.HandleFunc("PUT /_matrix/federation/v1/send/{txnId}", func(w http.ResponseWriter, r *http.Request) {
		writeFakeJSON(w, 200, map[string]any{"pdus": map[string]any{}})
	})
	mux.HandleFunc("GET /_matrix/federation/v1/event/{eventId}", d.serveEvent)
	mux.HandleFunc("GET /_matrix/federation/v1/state_ids/{roomId}", d.serveStateIDs)
	mux.HandleFunc("GET /_matrix/federation/v1/state/{roomId}", d.serveState)
	mux.HandleFunc("POST /_matrix/federation/v1/get_missing_events/{roomId}", d.serveMissing)
	mux.HandleFunc("GET /_matrix/federation/v1/backfill/{roomId}", d.serveBackfill)
	mux.HandleFunc("GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}", d.serveEventAuth)
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(l, ca.ServerTLSConfig(t, "localhost"))) }()
	t.Cleanup(func() { _ = srv.Close() })
	local := startNamed(t, backend, "local.test", func(c *config.Config) {
		c.Outbound.AllowPrivateAddresses = true
		c.Outbound.TrustedCAFile = ca.WriteFile(t)
	})
	d.remoteServer = &remoteServer{name: name, key: keys.SigningKey(t), hs: local}
	return d
}

func writeFakeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (d *dagRemote) record(r *http.Request, what string) {
	d.mu.Lock()
	d.requests = append(d.requests, r.Method+" "+what)
	d.mu.Unlock()
}

// asked lists the requests the fake answered itself.
func (d *dagRemote) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.requests)
}

// has makes the fake know events.
func (d *dagRemote) has(events ...matrixevents.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ev := range events {
		d.events[ev.EventID()] = ev
	}
}

func (d *dagRemote) serveEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("eventId")
	d.record(r, "event "+id)
	d.mu.Lock()
	ev, ok := d.events[id]
	d.mu.Unlock()
	if !ok {
		writeFakeJSON(w, 404, map[string]string{"errcode": "M_NOT_FOUND", "error": "no such event"})
		return
	}
	writeFakeJSON(w, 200, map[string]any{"origin": d.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": []json.RawMessage{ev.JSON()}})
}

// stateAt is the state before id and its auth chain, as IDs.
func (d *dagRemote) stateAt(id string) ([]string, []string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tooMany != nil {
		return d.tooMany, nil, true
	}
	state, ok := d.stateIDs[id]
	if !ok {
		return nil, nil, false
	}
	seen := map[string]bool{}
	var chain []string
	queue := slices.Clone(state)
	for len(queue) > 0 {
		ev, ok := d.events[queue[0]]
		queue = queue[1:]
		if !ok {
			continue
		}
		for _, a := range ev.AuthEventIDs() {
			if !seen[a] {
				seen[a] = true
				chain = append(chain, a)
				queue = append(queue, a)
			}
		}
	}
	return state, chain, true
}

func (d *dagRemote) serveStateIDs(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("event_id")
	d.record(r, "state_ids "+id)
	state, chain, ok := d.stateAt(id)
	if !ok {
		writeFakeJSON(w, 404, map[string]string{"errcode": "M_NOT_FOUND", "error": "no state"})
		return
	}
	writeFakeJSON(w, 200, map[string]any{"pdu_ids": state, "auth_chain_ids": chain})
}

func (d *dagRemote) serveState(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("event_id")
	d.record(r, "state "+id)
	state, chain, ok := d.stateAt(id)
	if !ok {
		writeFakeJSON(w, 404, map[string]string{"errcode": "M_NOT_FOUND", "error": "no state"})
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	pick := func(ids []string) []json.RawMessage {
		out := []json.RawMessage{}
		for _, id := range ids {
			if ev, ok := d.events[id]; ok {
				out = append(out, ev.JSON())
			}
		}
		return out
	}
	writeFakeJSON(w, 200, map[string]any{"pdus": pick(state), "auth_chain": pick(chain)})
}

// serveEventAuth answers an event's auth chain.
func (d *dagRemote) serveEventAuth(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("eventId")
	d.record(r, "event_auth "+id)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noEventAuth {
		writeFakeJSON(w, 404, map[string]string{"errcode": "M_UNRECOGNIZED", "error": "unknown endpoint"})
		return
	}
	ev, ok := d.events[id]
	if !ok {
		writeFakeJSON(w, 404, map[string]string{"errcode": "M_NOT_FOUND", "error": "no such event"})
		return
	}
	seen := map[string]bool{}
	out := []json.RawMessage{}
	queue := slices.Clone(ev.AuthEventIDs())
	for len(queue) > 0 {
		a, ok := d.events[queue[0]]
		queue = queue[1:]
		if !ok || seen[a.EventID()] {
			continue
		}
		seen[a.EventID()] = true
		out = append(out, a.JSON())
		queue = append(queue, a.AuthEventIDs()...)
	}
	writeFakeJSON(w, 200, map[string]any{"auth_chain": out})
}

// serveMissing walks prev_events breadth-first from latest, skipping
// earliest, up to limit, and answers oldest first.
func (d *dagRemote) serveMissing(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Earliest []string `json:"earliest_events"`
		Latest   []string `json:"latest_events"`
		Limit    int      `json:"limit"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	d.record(r, "get_missing_events")
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.missingLimit > 0 {
		req.Limit = min(req.Limit, d.missingLimit)
	}
	seen := map[string]bool{}
	for _, id := range slices.Concat(req.Earliest, req.Latest) {
		seen[id] = true
	}
	var out []json.RawMessage
	front := req.Latest
	for len(front) > 0 && len(out) < req.Limit {
		var next []string
		for _, id := range front {
			ev, ok := d.events[id]
			if !ok {
				continue
			}
			for _, p := range ev.PrevEventIDs() {
				if pe, ok := d.events[p]; ok && !seen[p] && len(out) < req.Limit {
					seen[p] = true
					out = append(out, pe.JSON())
					next = append(next, p)
				}
			}
		}
		front = next
	}
	slices.Reverse(out)
	writeFakeJSON(w, 200, map[string]any{"events": out})
}

// serveBackfill walks back from v through prev_events, up to limit.
func (d *dagRemote) serveBackfill(w http.ResponseWriter, r *http.Request) {
	d.record(r, "backfill")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	queue := slices.Clone(r.URL.Query()["v"])
	var out []json.RawMessage
	for len(queue) > 0 && len(out) < limit {
		id := queue[0]
		queue = queue[1:]
		ev, ok := d.events[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, ev.JSON())
		queue = append(queue, ev.PrevEventIDs()...)
	}
	writeFakeJSON(w, 200, map[string]any{"origin": d.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": out})
}

// after builds an event of the remote on prev, one deeper, citing as auth
// events what the auth rules consult in state.
func (d *dagRemote) after(t *testing.T, state map[matrixevents.StateTuple]rooms.StoredEvent, prev matrixevents.Event, sender, typ string, stateKey *string, content any) matrixevents.Event {
	t.Helper()
	p := matrixevents.ProtoEvent{RoomVersion: prev.Version(), RoomID: prev.RoomID(), Sender: sender, Type: typ, StateKey: stateKey,
		Content: content, PrevEventIDs: []string{prev.EventID()}, Depth: prev.Depth() + 1, Origin: d.name, Timestamp: time.Now()}
	needed, err := matrixevents.StateNeededForAuth(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tup := range needed {
		if se, ok := state[tup]; ok {
			p.AuthEventIDs = append(p.AuthEventIDs, se.Event.EventID())
		}
	}
	ev, err := matrixevents.BuildEvent(p, d.key)
	if err != nil {
		t.Fatal(err)
	}
	d.has(ev)
	return ev
}

func (d *dagRemote) message(t *testing.T, state map[matrixevents.StateTuple]rooms.StoredEvent, prev matrixevents.Event, sender, body string) matrixevents.Event {
	t.Helper()
	return d.after(t, state, prev, sender, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": body})
}

// stateIDsOf lists a state map's event IDs.
func stateIDsOf(state map[matrixevents.StateTuple]rooms.StoredEvent) []string {
	var out []string
	for _, se := range state {
		out = append(out, se.Event.EventID())
	}
	slices.Sort(out)
	return out
}

// dagRoom is a room of the local server that a user of the fake remote
// has joined, with the fake knowing its events.
type dagRoom struct {
	id    string
	alice testharness.Account
	rita  string
	join  matrixevents.Event
	// state is the room's state after rita's join.
	state map[matrixevents.StateTuple]rooms.StoredEvent
}

func joinDAGRoom(t *testing.T, d *dagRemote) dagRoom {
	t.Helper()
	hs := d.hs
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
	rita := "@rita:" + d.name
	joinByTxn(t, d.remoteServer, "join", room, rita)
	snap := currentRoom(t, hs, room)
	for _, se := range snap.State {
		d.has(se.Event)
	}
	join := snap.State[matrixevents.StateTuple{Type: "m.room.member", StateKey: rita}].Event
	return dagRoom{id: room, alice: alice, rita: rita, join: join, state: maps.Clone(snap.State)}
}

// timelineIDs is the room's timeline in an incremental /sync since tok.
func timelineIDs(t *testing.T, hs *testharness.Homeserver, token, roomID, since string) []string {
	t.Helper()
	s, r := doSync(t, hs, token, "since="+since+"&filter="+url.QueryEscape(`{"room":{"timeline":{"limit":50}}}`))
	if r.Status != 200 {
		t.Fatalf("sync: %s", r)
	}
	var out []string
	for _, ev := range s.Rooms.Join[roomID].Timeline.Events {
		out = append(out, ev.EventID)
	}
	return out
}

func eventIDsOf(events ...matrixevents.Event) []string {
	out := make([]string, 0, len(events))
	for _, ev := range events {
		out = append(out, ev.EventID())
	}
	return out
}

// A remote server sends only the last of three events: the local server
// asks it for the other two (get_missing_events, over TLS by its name)
// and clients see all three, in order.
func TestFederationMissingEventsFetched(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		room := joinDAGRoom(t, d)
		tok, _ := doSync(t, d.hs, room.alice.Token, "")

		m1 := d.message(t, room.state, room.join, room.rita, "one")
		m2 := d.message(t, room.state, m1, room.rita, "two")
		m3 := d.message(t, room.state, m2, room.rita, "three")
		if e, ok := pduError(t, sendTxn(t, d.remoteServer, "m3", d.name, []matrixevents.Event{m3}), m3.EventID()); !ok || e != "" {
			t.Fatalf("m3: %q (answered: %v)", e, ok)
		}
		if got, want := timelineIDs(t, d.hs, room.alice.Token, room.id, tok.NextBatch), eventIDsOf(m1, m2, m3); !slices.Equal(got, want) {
			t.Fatalf("timeline %v, want %v", got, want)
		}
		if got := d.asked(); !slices.Equal(got, []string{"POST get_missing_events"}) {
			t.Errorf("the remote was asked %v, want get_missing_events only", got)
		}
		if x := extremityIDs(currentRoom(t, d.hs, room.id)); !slices.Equal(x, []string{m3.EventID()}) {
			t.Errorf("forward extremities %v, want m3 only", x)
		}
	})
}

// A gap longer than get_missing_events' limit: the oldest event the
// answer holds still lacks its prev_event, so the state there comes from
// state_ids, and the events not held here (a second remote user's join,
// inside the gap, through the event's auth chain) are stored as outliers
// that clients do not see. That user's messages after the gap are accepted on that
// state; the events before it stay missing until a /messages page that
// reaches them backfills them (the join leaving the outliers), which it
// then shows in their place, and /sync never as new.
func TestFederationGapFilledThroughStateIDsAndBackfilled(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		room := joinDAGRoom(t, d)
		tok, _ := doSync(t, d.hs, room.alice.Token, "")
		ross := "@ross:" + d.name

		state := maps.Clone(room.state)
		join := d.after(t, state, room.join, ross, "m.room.member", &ross, map[string]any{"membership": "join"})
		state[matrixevents.StateTuple{Type: "m.room.member", StateKey: ross}] = rooms.StoredEvent{Event: join}
		chain := []matrixevents.Event{join}
		for i := range 12 {
			// ross sends m1, m3...: m3, the first event received after
			// the gap, is his, which the room's current state here, without
			// his join, would soft-fail.
			sender := ross
			if i%2 == 1 {
				sender = room.rita
			}
			chain = append(chain, d.message(t, state, chain[len(chain)-1], sender, "m"+strconv.Itoa(i+1)))
		}
		// chain: join, m1..m12. The state before m2 (a message) is the
		// room's with ross's join.
		d.mu.Lock()
		d.stateIDs[chain[2].EventID()] = stateIDsOf(state)
		d.stateIDs[join.EventID()] = stateIDsOf(room.state)
		d.mu.Unlock()
		last := d.message(t, state, chain[12], ross, "m13")
		if e, ok := pduError(t, sendTxn(t, d.remoteServer, "last", d.name, []matrixevents.Event{last}), last.EventID()); !ok || e != "" {
			t.Fatalf("m13: %q (answered: %v)", e, ok)
		}
		// get_missing_events gave m3..m12; m3's prev_event m2 is missing.
		want := append(eventIDsOf(chain[3:]...), last.EventID())
		if got := timelineIDs(t, d.hs, room.alice.Token, room.id, tok.NextBatch); !slices.Equal(got, want) {
			t.Fatalf("timeline %v, want m3..m13 %v", got, want)
		}
		// m3's auth events name ross's join: its auth chain comes first.
		wantAsked := []string{"POST get_missing_events", "GET event_auth " + chain[3].EventID(), "GET state_ids " + chain[2].EventID(), "GET event " + chain[2].EventID()}
		got := d.asked()
		slices.Sort(got[1:])
		slices.Sort(wantAsked[1:])
		if !slices.Equal(got, wantAsked) {
			t.Errorf("the remote was asked %v, want %v", got, wantAsked)
		}
		snap := currentRoom(t, d.hs, room.id)
		if m := snap.Membership(ross); m != "join" {
			t.Errorf("ross is %q in the current state, want join", m)
		}
		// ross's join is an outlier: no client sees it, by ID either.
		if r := d.hs.Do(t, "GET", roomPath(room.id, "/event/"+url.PathEscape(join.EventID())), room.alice.Token, nil); r.Status != 404 {
			t.Errorf("the outlier join through /event: %s", r)
		}
		for _, id := range []string{chain[1].EventID(), chain[2].EventID()} {
			if storedEvent(t, d.remoteServer, id) {
				t.Errorf("message %s before the gap was stored", id)
			}
		}

		// A /messages page that reaches the oldest event here backfills:
		// m1 and m2 come, ross's join leaves the outliers for the timeline,
		// and the page shows them below m3; /sync does not.
		after, _ := doSync(t, d.hs, room.alice.Token, "since="+tok.NextBatch)
		page := messagesPage(t, d.hs, room.alice.Token, room.id, "dir=b&limit=50")
		wantPage := append([]string{last.EventID()}, eventIDsOf(chain[12], chain[11], chain[10], chain[9], chain[8], chain[7], chain[6], chain[5], chain[4], chain[3], chain[2], chain[1], chain[0])...)
		wantPage = append(wantPage, room.join.EventID())
		if len(page) < len(wantPage) || !slices.Equal(page[:len(wantPage)], wantPage) {
			t.Errorf("/messages backwards %v, want %v then earlier events", page, wantPage)
		}
		if !slices.Contains(d.asked(), "GET backfill") {
			t.Errorf("/messages did not backfill: the remote was asked %v", d.asked())
		}
		if got := timelineIDs(t, d.hs, room.alice.Token, room.id, after.NextBatch); len(got) != 0 {
			t.Errorf("backfilled events in an incremental sync: %v", got)
		}
		// The history here now reaches rita's join, which follows events
		// this server has: nothing is left to ask for.
		asked := len(d.asked())
		if n, err := d.hs.Server.Services.Rooms.Backfill(context.Background(), room.id, 10); err != nil || n != 0 || len(d.asked()) != asked {
			t.Errorf("a second backfill stored %d (%v), asking %v, want nothing", n, err, d.asked()[asked:])
		}
	})
}

// messagesPage lists the event IDs of one /messages page.
func messagesPage(t *testing.T, hs *testharness.Homeserver, token, roomID, query string) []string {
	t.Helper()
	r := hs.Do(t, "GET", roomPath(roomID, "/messages?"+query), token, nil)
	var page struct {
		Chunk []struct {
			EventID string `json:"event_id"`
		} `json:"chunk"`
	}
	if err := json.Unmarshal(r.Raw, &page); err != nil || r.Status != 200 {
		t.Fatalf("messages: %s", r)
	}
	var out []string
	for _, e := range page.Chunk {
		out = append(out, e.EventID)
	}
	return out
}

// What the local server refuses while filling a gap: an origin that
// cannot say what is missing (the event is refused, not stored), a state
// whose missing events exceed what one transaction may fetch (none is
// fetched), and a missing event that does not carry its server's
// signature (dropped, and the event pushed after it refused, its gap
// unfilled).
func TestFederationMissingEventsRefusals(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		room := joinDAGRoom(t, d)

		// The origin knows nothing of the gap.
		lost := d.message(t, room.state, room.join, room.rita, "lost")
		orphan := d.message(t, room.state, lost, room.rita, "orphan")
		d.mu.Lock()
		delete(d.events, lost.EventID())
		d.mu.Unlock()
		if e, _ := pduError(t, sendTxn(t, d.remoteServer, "orphan", d.name, []matrixevents.Event{orphan}), orphan.EventID()); e == "" {
			t.Error("an event whose gap nobody fills was accepted")
		}
		if storedEvent(t, d.remoteServer, orphan.EventID()) {
			t.Error("an event whose gap nobody fills was stored")
		}

		// More missing events than a transaction may fetch.
		d.mu.Lock()
		d.requests = nil
		for i := range rooms.DefaultFetchBudget + 50 {
			d.tooMany = append(d.tooMany, "$missing"+strconv.Itoa(i))
		}
		d.mu.Unlock()
		if e, _ := pduError(t, sendTxn(t, d.remoteServer, "many", d.name, []matrixevents.Event{orphan}), orphan.EventID()); e == "" {
			t.Error("an event whose gap exceeds the budget was accepted")
		}
		for _, req := range d.asked() {
			if req != "POST get_missing_events" && req != "GET state_ids "+lost.EventID() {
				t.Errorf("asked %q for a gap beyond the budget", req)
			}
		}

		// A forged missing event: signed by a key that is not its server's.
		d.mu.Lock()
		d.tooMany = nil
		d.mu.Unlock()
		forger := newRemoteServer(t, d.hs)
		forger.name = d.name
		forged := forger.event(t, room.state, room.id, room.rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "forged"}, []string{room.join.EventID()}, time.Now())
		d.has(forged)
		d.mu.Lock()
		d.stateIDs[forged.EventID()] = stateIDsOf(room.state)
		d.mu.Unlock()
		next := d.message(t, room.state, forged, room.rita, "after the forgery")
		d.mu.Lock()
		d.requests = nil
		d.mu.Unlock()
		// The pushed event's prev_event is still missing once the forged
		// one is dropped: refused, without taking the sender's word for
		// the state there (no /state_ids).
		if e, ok := pduError(t, sendTxn(t, d.remoteServer, "forged", d.name, []matrixevents.Event{next}), next.EventID()); !ok || e == "" {
			t.Fatalf("the event after a forged one was accepted")
		}
		if storedEvent(t, d.remoteServer, forged.EventID()) || storedEvent(t, d.remoteServer, next.EventID()) {
			t.Error("a forged missing event or the event after it was stored")
		}
		if got := d.asked(); !slices.Equal(got, []string{"POST get_missing_events"}) {
			t.Errorf("the remote was asked %v, want only get_missing_events", got)
		}
	})
}

// An event whose auth events are not all here: the local server fetches
// its auth chain from the origin (/event_auth) and stores what it lacked
// as outliers, so the event is judged by the auth rules — here, a member
// the room has never seen join, rejected against the state before it —
// instead of being refused as unknown.
func TestFederationMissingAuthEventsFetched(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		room := joinDAGRoom(t, d)
		rhea := "@rhea:" + d.name
		state := maps.Clone(room.state)
		join := d.after(t, state, room.join, rhea, "m.room.member", &rhea, map[string]any{"membership": "join"})
		state[matrixevents.StateTuple{Type: "m.room.member", StateKey: rhea}] = rooms.StoredEvent{Event: join}
		msg := d.message(t, state, room.join, rhea, "unseen")
		e, ok := pduError(t, sendTxn(t, d.remoteServer, "msg", d.name, []matrixevents.Event{msg}), msg.EventID())
		if !ok || e != "" || !rejectedEvent(t, d.remoteServer, msg.EventID()) {
			t.Errorf("the message of a member whose join is unknown here is not stored as rejected (answered %q)", e)
		}
		if !slices.Equal(d.asked(), []string{"GET event_auth " + msg.EventID()}) {
			t.Errorf("the remote was asked %v, want the message's auth chain", d.asked())
		}
		if !storedEvent(t, d.remoteServer, join.EventID()) || !storedEvent(t, d.remoteServer, msg.EventID()) {
			t.Error("the fetched join or the rejected message is not stored")
		}
		if m := currentRoom(t, d.hs, room.id).Membership(rhea); m != "" {
			t.Errorf("rhea is %q, want no membership: an outlier changes no state", m)
		}
	})
}

// When the state across a gap lacks more than 20 events, it is asked for
// whole (/state) instead of event by event: 35 users join in the gap,
// the last 9 and a message come through get_missing_events, and the 26th
// join's state brings the other 25 at once.
func TestFederationGapStateFetchedWhole(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		d := startDAGRemote(t, backend)
		room := joinDAGRoom(t, d)
		state := maps.Clone(room.state)
		prev := room.join
		var joins []matrixevents.Event
		for i := range 35 {
			user := "@user" + strconv.Itoa(i) + ":" + d.name
			j := d.after(t, state, prev, user, "m.room.member", &user, map[string]any{"membership": "join"})
			if i == 25 {
				d.mu.Lock()
				d.stateIDs[j.EventID()] = stateIDsOf(state)
				d.mu.Unlock()
			}
			state[matrixevents.StateTuple{Type: "m.room.member", StateKey: user}] = rooms.StoredEvent{Event: j}
			joins = append(joins, j)
			prev = j
		}
		msg := d.message(t, state, prev, room.rita, "after the crowd")
		last := d.message(t, state, msg, room.rita, "last")
		if e, ok := pduError(t, sendTxn(t, d.remoteServer, "last", d.name, []matrixevents.Event{last}), last.EventID()); !ok || e != "" {
			t.Fatalf("last: %q (answered: %v)", e, ok)
		}
		want := []string{"POST get_missing_events", "GET state_ids " + joins[25].EventID(), "GET state " + joins[25].EventID(), "GET event " + joins[25].EventID()}
		if got := d.asked(); !slices.Equal(got, want) {
			t.Errorf("the remote was asked %v, want %v", got, want)
		}
		snap := currentRoom(t, d.hs, room.id)
		for i := range 35 {
			if m := snap.Membership("@user" + strconv.Itoa(i) + ":" + d.name); m != "join" {
				t.Fatalf("user%d is %q, want join", i, m)
			}
		}
	})
}
