package integration

import (
	"encoding/json"
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

// servedMembership is an event's ID and its unsigned.membership ("" when
// absent).
type servedMembership struct {
	EventID  string `json:"event_id"`
	Unsigned struct {
		Membership string `json:"membership"`
	} `json:"unsigned"`
}

func membershipsOf(t *testing.T, raw json.RawMessage) map[string]string {
	t.Helper()
	var events []servedMembership
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatalf("events: %v in %s", err, raw)
	}
	out := map[string]string{}
	for _, e := range events {
		out[e.EventID] = e.Unsigned.Membership
	}
	return out
}

// Every event served to a client carries the requesting user's membership
// at that event, counting the change the event makes, and "leave" before
// the user had any (MSC4115): in /sync, /messages, /context, /event and
// /relations.
func TestUnsignedMembership(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		alice := hs.RegisterUser(t, "alice")
		bob := hs.RegisterUser(t, "bob")
		room := createRoom(t, hs, alice.Token, map[string]any{"preset": "private_chat"})
		before := sendMessage(t, hs, alice.Token, room, "before bob")
		if r := hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token, map[string]any{"user_id": bob.UserID}); r.Status != 200 {
			t.Fatalf("invite: %s", r)
		}
		mustJoin(t, hs, bob.Token, room)
		during := sendMessage(t, hs, alice.Token, room, "with bob")
		reaction := hs.Do(t, "PUT", roomPath(room, "/send/m.reaction/r1"), alice.Token, map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": during, "key": "👍"}})
		if reaction.Status != 200 {
			t.Fatalf("reaction: %s", reaction)
		}

		// Bob's memberships, by event.
		var invite, joinEv, createEv string
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&limit=50"), alice.Token, nil)
		var page struct {
			Chunk []struct {
				EventID  string  `json:"event_id"`
				Type     string  `json:"type"`
				StateKey *string `json:"state_key"`
				Content  struct {
					Membership string `json:"membership"`
				} `json:"content"`
			} `json:"chunk"`
		}
		if err := json.Unmarshal(msgs.Raw, &page); err != nil {
			t.Fatalf("messages: %s", msgs)
		}
		for _, e := range page.Chunk {
			switch {
			case e.Type == "m.room.create":
				createEv = e.EventID
			case e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.UserID && e.Content.Membership == "invite":
				invite = e.EventID
			case e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.UserID && e.Content.Membership == "join":
				joinEv = e.EventID
			}
		}
		if invite == "" || joinEv == "" || createEv == "" {
			t.Fatalf("missing events in %s", msgs)
		}
		want := map[string]string{createEv: "leave", before: "leave", invite: "invite", joinEv: "join", during: "join", reaction.Str("event_id"): "join"}
		check := func(where string, got map[string]string) {
			t.Helper()
			for id, m := range got {
				if w, ok := want[id]; ok && m != w {
					t.Errorf("%s: %s has unsigned.membership %q, want %q", where, id, m, w)
				}
			}
		}

		// /sync timeline (shared history: bob sees the room from the start).
		_, sr := doSync(t, hs, bob.Token, "filter="+url.QueryEscape(`{"room":{"timeline":{"limit":50}}}`))
		var s struct {
			Rooms struct {
				Join map[string]struct {
					Timeline struct {
						Events json.RawMessage `json:"events"`
					} `json:"timeline"`
				} `json:"join"`
			} `json:"rooms"`
		}
		if err := json.Unmarshal(sr.Raw, &s); err != nil {
			t.Fatal(err)
		}
		syncGot := membershipsOf(t, s.Rooms.Join[room].Timeline.Events)
		for _, id := range []string{before, invite, joinEv, during} {
			if _, ok := syncGot[id]; !ok {
				t.Fatalf("sync timeline lacks %s: %s", id, sr)
			}
		}
		check("/sync", syncGot)

		// Bob leaves; what he is served keeps the membership of each moment.
		if r := hs.Do(t, "POST", roomPath(room, "/leave"), bob.Token, map[string]any{}); r.Status != 200 {
			t.Fatalf("leave: %s", r)
		}
		var chunk struct {
			Chunk json.RawMessage `json:"chunk"`
		}
		m := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=50"), bob.Token, nil)
		if err := json.Unmarshal(m.Raw, &chunk); err != nil {
			t.Fatalf("messages: %s", m)
		}
		got := membershipsOf(t, chunk.Chunk)
		if len(got) < 6 {
			t.Fatalf("bob's /messages: %s", m)
		}
		for id, mm := range got {
			if mm == "" {
				t.Errorf("/messages: %s has no unsigned.membership", id)
			}
		}
		check("/messages", got)
		var leaveEv string
		for id, mm := range got {
			if _, known := want[id]; !known && mm == "leave" {
				leaveEv = id
			}
		}
		if leaveEv == "" {
			t.Errorf("/messages: bob's own leave is not marked leave: %s", m)
		}

		for _, id := range []string{before, during} {
			ev := hs.Do(t, "GET", roomPath(room, "/event/"+url.PathEscape(id)), bob.Token, nil)
			var one servedMembership
			_ = json.Unmarshal(ev.Raw, &one)
			check("/event", map[string]string{id: one.Unsigned.Membership})
			if one.Unsigned.Membership == "" {
				t.Errorf("/event %s: no unsigned.membership: %s", id, ev)
			}
		}

		c := hs.Do(t, "GET", roomPath(room, "/context/"+url.PathEscape(during)+"?limit=4"), bob.Token, nil)
		var cx struct {
			Event        servedMembership `json:"event"`
			EventsBefore json.RawMessage  `json:"events_before"`
			EventsAfter  json.RawMessage  `json:"events_after"`
		}
		if err := json.Unmarshal(c.Raw, &cx); err != nil {
			t.Fatalf("context: %s", c)
		}
		ctxGot := membershipsOf(t, cx.EventsBefore)
		for id, mm := range membershipsOf(t, cx.EventsAfter) {
			ctxGot[id] = mm
		}
		ctxGot[cx.Event.EventID] = cx.Event.Unsigned.Membership
		if ctxGot[during] != "join" || ctxGot[joinEv] != "join" {
			t.Errorf("/context: %s", c)
		}
		check("/context", ctxGot)

		rel := hs.Do(t, "GET", "/_matrix/client/v1/rooms/"+url.PathEscape(room)+"/relations/"+url.PathEscape(during), bob.Token, nil)
		if err := json.Unmarshal(rel.Raw, &chunk); err != nil {
			t.Fatalf("relations: %s", rel)
		}
		relGot := membershipsOf(t, chunk.Chunk)
		if relGot[reaction.Str("event_id")] != "join" {
			t.Errorf("/relations: %s", rel)
		}

		// Alice, the creator, sees "join" from her own join on; the create
		// event came before it.
		a := hs.Do(t, "GET", roomPath(room, "/messages?dir=f&limit=50"), alice.Token, nil)
		if err := json.Unmarshal(a.Raw, &chunk); err != nil {
			t.Fatal(err)
		}
		for id, mm := range membershipsOf(t, chunk.Chunk) {
			wantA := "join"
			if id == createEv {
				wantA = "leave"
			}
			if mm != wantA {
				t.Errorf("alice's /messages: %s has %q, want %q", id, mm, wantA)
			}
		}
	})
}
