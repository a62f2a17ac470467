package matrixevents

import (
	"encoding/json"
	"errors"
	"testing"
)

func asError[T error](err error, target *T) bool { return errors.As(err, target) }

func TestClientEventShape(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	msg := r.send(alice, "m.room.message", nil, map[string]string{"body": "hi"})
	out, err := json.Marshal(ToClientEvent(msg, json.RawMessage(`{"age":5}`)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	mustUnmarshal(t, out, &m)
	for _, k := range []string{"content", "event_id", "origin_server_ts", "room_id", "sender", "type", "unsigned"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q in %s", k, out)
		}
	}
	for _, k := range []string{"state_key", "redacts", "hashes", "signatures", "auth_events", "depth"} {
		if _, ok := m[k]; ok {
			t.Errorf("unexpected %q in %s", k, out)
		}
	}
	if m["origin_server_ts"].(float64) != float64(msg.OriginServerTS()) {
		t.Error("origin_server_ts mismatch")
	}

	name := r.send(alice, "m.room.name", strPtr(""), map[string]string{"name": "n"})
	ce := ToClientEvent(name, nil)
	ce.RoomID = "" // sync format
	out, _ = json.Marshal(ce)
	m = nil
	mustUnmarshal(t, out, &m)
	if m["state_key"] != "" {
		t.Errorf("state_key missing for state event: %s", out)
	}
	if _, ok := m["room_id"]; ok {
		t.Errorf("room_id should be omitted: %s", out)
	}
	if _, ok := m["unsigned"]; ok {
		t.Errorf("nil unsigned should be omitted: %s", out)
	}
}

func TestZeroEvent(t *testing.T) {
	var e Event
	if !e.IsZero() || e.EventID() != "" || e.Content() != nil || e.StateKey() != nil || e.Redacts() != "" {
		t.Error("zero Event accessors should return zero values")
	}
	if err := Authorise(e, nil); err == nil {
		t.Error("zero event authorised")
	}
}

func TestCanonicalJSON(t *testing.T) {
	got, err := CanonicalJSON([]byte(`{ "b": 1, "a": {"d": "\u00e9", "c": [1, 2]} }`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"c":[1,2],"d":"é"},"b":1}`; string(got) != want {
		t.Errorf("got %s want %s", got, want)
	}
	if _, err := CanonicalJSON([]byte(`{"a":`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestIDValidation(t *testing.T) {
	cases := []struct {
		fn   func(string) bool
		name string
		good []string
		bad  []string
	}{
		{ValidUserID, "user", []string{"@alice:example.org", "@a:localhost:8448", "@Old_Style!:example.org"},
			[]string{"", "alice:example.org", "@alice", "@:example.org", "@al ice:example.org", "@a:exa mple.org"}},
		{ValidRoomID, "room", []string{"!abc:example.org", "!" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"},
			[]string{"", "abc:example.org", "!abc", "!:example.org", "#a:example.org"}},
		{ValidRoomAlias, "alias", []string{"#room:example.org", "#r:[::1]:8448"},
			[]string{"", "room:example.org", "#:example.org", "#room", "#room:", "!room:example.org"}},
		{ValidServerName, "server", []string{"example.org", "localhost:8008", "1.2.3.4", "[::1]"},
			[]string{"", "exa mple.org", "example.org:port", "example.org:"}},
	}
	for _, c := range cases {
		for _, s := range c.good {
			if !c.fn(s) {
				t.Errorf("%s %q rejected", c.name, s)
			}
		}
		for _, s := range c.bad {
			if c.fn(s) {
				t.Errorf("%s %q accepted", c.name, s)
			}
		}
	}
	if l, s, ok := SplitUserID("@bob:example.org:8448"); !ok || l != "bob" || s != "example.org:8448" {
		t.Errorf("SplitUserID = %q %q %v", l, s, ok)
	}
}
