package integration

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// servedEvents parses events another server served and checks that each
// carries the signatures of the servers that must sign it (keys).
func servedEvents(t *testing.T, version string, keys map[string]ed25519.PublicKey, raws []json.RawMessage) []matrixevents.Event {
	t.Helper()
	lookup := func(_ context.Context, name, _ string, _ int64) (ed25519.PublicKey, error) {
		if key, ok := keys[name]; ok {
			return key, nil
		}
		return nil, errors.New("unknown server " + name)
	}
	out := make([]matrixevents.Event, 0, len(raws))
	for _, raw := range raws {
		ev, err := matrixevents.ParseUntrusted(version, raw)
		if err != nil {
			t.Fatalf("served event: %v", err)
		}
		if err := matrixevents.VerifyEventSignatures(context.Background(), ev, lookup); err != nil {
			t.Fatalf("served event %s: %v", ev.EventID(), err)
		}
		out = append(out, ev)
	}
	return out
}

func bodyOf(ev matrixevents.Event) string {
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(ev.Content(), &c)
	return c.Body
}

// remoteStatus is the status and errcode of a federation call's failure.
func remoteStatus(t *testing.T, err error) (int, string) {
	t.Helper()
	re, ok := federationclient.RemoteError(err)
	if !ok {
		t.Fatalf("want a remote error, got %v", err)
	}
	return re.Status, re.Code
}

// Two real servers and a third: B, whose user joined a room on A under
// history visibility "joined", asks A for the room's events, state, auth
// chains, missing events and history and gets them signed by A, the
// events from before its user joined redacted; C, never in the room, is
// refused until the room becomes world-readable, and then sees only what
// was sent while it was; unknown events and rooms are 404.
func TestFederationServesRoomDAG(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		servers := testharness.StartFederation(t, backend, 3, nil)
		a, b, c := servers[0], servers[1], servers[2]
		ctx := context.Background()
		aName := a.Config.ServerName
		keys := map[string]ed25519.PublicKey{aName: a.SigningKey(t).PublicKey(), b.Config.ServerName: b.SigningKey(t).PublicKey()}
		alice := a.RegisterUser(t, "alice")
		room := createRoom(t, a, alice.Token, map[string]any{"preset": "public_chat"})
		mustPutState(t, a, alice.Token, room, "m.room.history_visibility", map[string]any{"history_visibility": "joined"})
		secret := sendMessage(t, a, alice.Token, room, "before bob")
		bob := "@bob:" + b.Config.ServerName
		joinByTxn(t, &remoteServer{name: b.Config.ServerName, key: b.SigningKey(t), hs: a}, "bob", room, bob)
		bobJoin := currentRoom(t, a, room).State[matrixevents.StateTuple{Type: "m.room.member", StateKey: bob}].Event.EventID()
		p1 := sendMessage(t, a, alice.Token, room, "after one")
		p2 := sendMessage(t, a, alice.Token, room, "after two")
		snap := currentRoom(t, a, room)
		version := snap.Info.Version
		fromB, fromC := b.Server.Services.FederationClient, c.Server.Services.FederationClient

		// /event: whole after bob's join, redacted before it.
		txn, err := fromB.Event(ctx, aName, p2)
		if err != nil || txn.Origin != aName || len(txn.PDUs) != 1 {
			t.Fatalf("/event: %+v, %v", txn, err)
		}
		if ev := servedEvents(t, version, keys, txn.PDUs)[0]; ev.EventID() != p2 || bodyOf(ev) != "after two" {
			t.Errorf("/event %s: %s", p2, ev.JSON())
		}
		txn, err = fromB.Event(ctx, aName, secret)
		if err != nil || len(txn.PDUs) != 1 {
			t.Fatalf("/event before the join: %+v, %v", txn, err)
		}
		if ev := servedEvents(t, version, keys, txn.PDUs)[0]; ev.EventID() != secret || bodyOf(ev) != "" {
			t.Errorf("an event from before bob's join is not redacted: %s", ev.JSON())
		}

		// /state_ids and /state: the state at p2, with its auth chain.
		ids, err := fromB.StateIDs(ctx, aName, room, p2)
		if err != nil {
			t.Fatalf("/state_ids: %v", err)
		}
		var wantState []string
		for _, se := range snap.State {
			wantState = append(wantState, se.Event.EventID())
		}
		slices.Sort(wantState)
		slices.Sort(ids.PDUIDs)
		create := snap.State[matrixevents.StateTuple{Type: "m.room.create"}].Event.EventID()
		if !slices.Equal(ids.PDUIDs, wantState) || !slices.Contains(ids.AuthChainIDs, create) {
			t.Errorf("/state_ids: %+v, want state %v", ids, wantState)
		}
		st, err := fromB.State(ctx, aName, room, p2)
		if err != nil || len(st.PDUs) != len(wantState) || len(st.AuthChain) != len(ids.AuthChainIDs) {
			t.Fatalf("/state: %d events, %d in the auth chain (%v)", len(st.PDUs), len(st.AuthChain), err)
		}
		servedEvents(t, version, keys, st.PDUs[:1])

		// /event_auth: the auth chain of bob's join.
		var auth struct {
			AuthChain []json.RawMessage `json:"auth_chain"`
		}
		if err := fromB.Do(ctx, federationclient.Request{Method: "GET", Destination: aName,
			Path: "/_matrix/federation/v1/event_auth/" + url.PathEscape(room) + "/" + url.PathEscape(bobJoin)}, &auth); err != nil {
			t.Fatalf("/event_auth: %v", err)
		}
		chain := eventIDsOf(servedEvents(t, version, keys, auth.AuthChain)...)
		joinRules := snap.State[matrixevents.StateTuple{Type: "m.room.join_rules"}].Event.EventID()
		if !slices.Contains(chain, create) || !slices.Contains(chain, joinRules) || slices.Contains(chain, bobJoin) {
			t.Errorf("/event_auth of the join: %v", chain)
		}

		// get_missing_events: from what bob's server has to p2, and a
		// walk cut by its limit, oldest first.
		raws, err := fromB.MissingEvents(ctx, aName, room, federationclient.MissingEventsRequest{EarliestEvents: []string{bobJoin}, LatestEvents: []string{p2}, Limit: 10})
		if got := eventIDsOf(servedEvents(t, version, keys, raws)...); err != nil || !slices.Equal(got, []string{p1}) {
			t.Errorf("get_missing_events from the join: %v (%v), want p1", got, err)
		}
		raws, err = fromB.MissingEvents(ctx, aName, room, federationclient.MissingEventsRequest{EarliestEvents: []string{}, LatestEvents: []string{p2}, Limit: 3})
		missing := servedEvents(t, version, keys, raws)
		if got := eventIDsOf(missing...); err != nil || !slices.Equal(got, []string{secret, bobJoin, p1}) {
			t.Errorf("get_missing_events limited: %v (%v), want the secret, the join, p1", got, err)
		} else if bodyOf(missing[0]) != "" {
			t.Errorf("get_missing_events served the secret whole: %s", missing[0].JSON())
		}

		raws, err = fromB.MissingEvents(ctx, aName, room, federationclient.MissingEventsRequest{EarliestEvents: []string{}, LatestEvents: []string{p2}, Limit: 10, MinDepth: missing[2].Depth()})
		if got := eventIDsOf(servedEvents(t, version, keys, raws)...); err != nil || !slices.Equal(got, []string{p1}) {
			t.Errorf("get_missing_events above p1's depth: %v (%v), want p1", got, err)
		}

		// /backfill: from p2 back, newest first.
		txn, err = fromB.Backfill(ctx, aName, room, []string{p2}, 4)
		back := servedEvents(t, version, keys, txn.PDUs)
		if got := eventIDsOf(back...); err != nil || !slices.Equal(got, []string{p2, p1, bobJoin, secret}) {
			t.Errorf("/backfill: %v (%v)", got, err)
		} else if bodyOf(back[3]) != "" {
			t.Errorf("/backfill served the secret whole: %s", back[3].JSON())
		}

		// C has no member: refused everywhere.
		_, err = fromC.Event(ctx, aName, p2)
		if s, code := remoteStatus(t, err); s != 403 || code != "M_FORBIDDEN" {
			t.Errorf("/event for a server not in the room: %d %s", s, code)
		}
		_, err = fromC.StateIDs(ctx, aName, room, p2)
		if s, _ := remoteStatus(t, err); s != 403 {
			t.Errorf("/state_ids for a server not in the room: %d", s)
		}
		_, err = fromC.Backfill(ctx, aName, room, []string{p2}, 10)
		if s, _ := remoteStatus(t, err); s != 403 {
			t.Errorf("/backfill for a server not in the room: %d", s)
		}
		_, err = fromC.MissingEvents(ctx, aName, room, federationclient.MissingEventsRequest{EarliestEvents: []string{}, LatestEvents: []string{p2}, Limit: 10})
		if s, _ := remoteStatus(t, err); s != 403 {
			t.Errorf("get_missing_events for a server not in the room: %d", s)
		}

		// Unknown events and rooms; a missing parameter.
		_, err = fromB.Event(ctx, aName, "$nothere")
		if s, code := remoteStatus(t, err); s != 404 || code != "M_NOT_FOUND" {
			t.Errorf("/event of an unknown event: %d %s", s, code)
		}
		_, err = fromB.StateIDs(ctx, aName, "!nothere:"+aName, p2)
		if s, code := remoteStatus(t, err); s != 404 || code != "M_NOT_FOUND" {
			t.Errorf("/state_ids of an unknown room: %d %s", s, code)
		}
		err = fromB.Do(ctx, federationclient.Request{Method: "GET", Destination: aName, Path: "/_matrix/federation/v1/state_ids/" + url.PathEscape(room)}, nil)
		if s, code := remoteStatus(t, err); s != 400 || code != "M_MISSING_PARAM" {
			t.Errorf("/state_ids without event_id: %d %s", s, code)
		}

		// World-readable: C may read what is sent from then on, and gets
		// what was sent under "joined" redacted.
		mustPutState(t, a, alice.Token, room, "m.room.history_visibility", map[string]any{"history_visibility": "world_readable"})
		open := sendMessage(t, a, alice.Token, room, "for the world")
		txn, err = fromC.Event(ctx, aName, open)
		if err != nil || len(txn.PDUs) != 1 || bodyOf(servedEvents(t, version, keys, txn.PDUs)[0]) != "for the world" {
			t.Errorf("/event of a world-readable event for C: %+v, %v", txn, err)
		}
		txn, err = fromC.Event(ctx, aName, p2)
		if err != nil || len(txn.PDUs) != 1 || bodyOf(servedEvents(t, version, keys, txn.PDUs)[0]) != "" {
			t.Errorf("/event of an event sent under joined for C: %+v, %v", txn, err)
		}
		_, err = fromC.StateIDs(ctx, aName, room, p2)
		if s, _ := remoteStatus(t, err); s != 403 {
			t.Errorf("/state_ids at an event C may not see: %d", s)
		}
		if _, err := fromC.StateIDs(ctx, aName, room, open); err != nil {
			t.Errorf("/state_ids at a world-readable event for C: %v", err)
		}

		// get_missing_events answers at most 20 events, whatever the limit.
		var many []string
		for range 25 {
			many = append(many, sendMessage(t, a, alice.Token, room, "many"))
		}
		raws, err = fromB.MissingEvents(ctx, aName, room, federationclient.MissingEventsRequest{EarliestEvents: []string{}, LatestEvents: many[24:], Limit: 100})
		if got := eventIDsOf(servedEvents(t, version, keys, raws)...); err != nil || !slices.Equal(got, many[4:24]) {
			t.Errorf("get_missing_events with limit 100: %d events (%v), want the 20 before the last", len(got), err)
		}
	})
}

// Which events a server in the room is served: not a rejected one (404,
// as if unknown), a soft-failed one yet (as Synapse does), and nothing
// once the room's server ACL denies the server (403); its requests are
// rate-limited (429).
func TestFederationServedDAGRejectedSoftFailedAndACL(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := startNamed(t, backend, "local.test", nil)
		rs := txnRemote(t, backend, hs)
		alice := hs.RegisterUser(t, "alice")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
		rita := "@rita:remote.test"
		joinByTxn(t, rs, "join", room, rita)
		ask := func(method, path string, body any) *testharness.Response {
			return hs.SignedRequest(t, rs.key, rs.name, hs.Config.ServerName, method, path, body)
		}
		eventPath := func(id string) string { return "/_matrix/federation/v1/event/" + url.PathEscape(id) }

		joined := currentRoom(t, hs, room)
		rename := rs.event(t, joined.State, room, rita, "m.room.name", strPtr(""), map[string]any{"name": "mine now"}, extremityIDs(joined), time.Now())
		rejectedByTxn(t, rs, "rename", rename)
		if r := ask("GET", eventPath(rename.EventID()), nil); r.Status != 404 || r.Str("errcode") != "M_NOT_FOUND" {
			t.Errorf("/event of a rejected event: %s", r)
		}

		before := currentRoom(t, hs, room)
		if r := hs.Do(t, "POST", roomPath(room, "/ban"), alice.Token, map[string]any{"user_id": rita}); r.Status != 200 {
			t.Fatalf("ban: %s", r)
		}
		late := rs.event(t, before.State, room, rita, "m.room.message", nil, map[string]any{"msgtype": "m.text", "body": "late"}, extremityIDs(before), time.Now())
		if e, _ := pduError(t, sendTxn(t, rs, "late", rs.name, []matrixevents.Event{late}), late.EventID()); e != "" {
			t.Fatalf("the soft-failed message: %q", e)
		}
		if r := ask("GET", eventPath(late.EventID()), nil); r.Status != 200 || !strings.Contains(string(r.Raw), `"late"`) {
			t.Errorf("/event of a soft-failed event: %s", r)
		}

		mustPutState(t, hs, alice.Token, room, "m.room.server_acl", map[string]any{"allow": []string{"*"}, "deny": []string{"remote.test"}})
		if r := ask("GET", eventPath(late.EventID()), nil); r.Status != 403 || r.Str("errcode") != "M_FORBIDDEN" {
			t.Errorf("/event for a server the ACL denies: %s", r)
		}
		if r := ask("GET", "/_matrix/federation/v1/state_ids/"+url.PathEscape(room)+"?event_id="+url.QueryEscape(late.EventID()), nil); r.Status != 403 {
			t.Errorf("/state_ids for a server the ACL denies: %s", r)
		}
		if r := ask("POST", "/_matrix/federation/v1/get_missing_events/"+url.PathEscape(room),
			map[string]any{"earliest_events": []string{}, "latest_events": []string{late.EventID()}}); r.Status != 403 {
			t.Errorf("get_missing_events for a server the ACL denies: %s", r)
		}
		// An empty request is still a request for the room: the ACL answers.
		if r := ask("POST", "/_matrix/federation/v1/get_missing_events/"+url.PathEscape(room), map[string]any{}); r.Status != 403 {
			t.Errorf("an empty get_missing_events for a server the ACL denies: %s", r)
		}

		// One origin's DAG requests are rate-limited: a burst, then 429.
		var limited *testharness.Response
		for range 1000 {
			if r := ask("GET", eventPath(late.EventID()), nil); r.Status == 429 {
				limited = r
				break
			}
		}
		if limited == nil || limited.Str("errcode") != "M_LIMIT_EXCEEDED" || limited.JSON["retry_after_ms"] == nil {
			t.Errorf("DAG requests beyond the rate: %v", limited)
		}
	})
}
