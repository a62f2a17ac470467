package matrixevents

import (
	"encoding/json"
	"reflect"
	"testing"
)

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
}

func redactedContent(t *testing.T, version string, ev Event) map[string]any {
	t.Helper()
	out, err := Redact(version, ev.JSON())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	mustUnmarshal(t, out, &top)
	if _, ok := top["unsigned"]; ok {
		t.Error("unsigned survived redaction")
	}
	if canon, _ := CanonicalJSON(out); string(canon) != string(out) {
		t.Error("Redact output is not canonical")
	}
	// The redacted form must still parse and keep its identity.
	again, err := ParseTrusted(version, out)
	if err != nil {
		t.Fatal(err)
	}
	if again.Type() != ev.Type() || again.Sender() != ev.Sender() || again.RoomID() != ev.RoomID() {
		t.Error("redaction changed type, sender or room")
	}
	c, _ := top["content"].(map[string]any)
	return c
}

func TestRedactStripsContent(t *testing.T) {
	for _, v := range []string{"10", "11"} {
		t.Run("v"+v, func(t *testing.T) { testRedactStripsContent(t, v) })
	}
}

func testRedactStripsContent(t *testing.T, version string) {
	r := newTestRoom(t, version)
	msg := r.send(alice, "m.room.message", nil, map[string]string{"msgtype": "m.text", "body": "secret"})
	if c := redactedContent(t, r.version, msg); len(c) != 0 {
		t.Errorf("message content after redaction = %v", c)
	}

	topic := r.send(alice, "m.room.topic", strPtr(""), map[string]string{"topic": "t"})
	if c := redactedContent(t, r.version, topic); len(c) != 0 {
		t.Errorf("topic content after redaction = %v", c)
	}

	pl := r.state[StateTuple{TypePowerLevels, ""}]
	c := redactedContent(t, r.version, pl)
	kept := []string{"users", "events", "ban", "state_default"}
	if version != "10" {
		kept = append(kept, "invite") // kept since v11
	}
	for _, k := range kept {
		if _, ok := c[k]; !ok {
			t.Errorf("power_levels lost %q: %v", k, c)
		}
	}

	member := r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join", "displayname": "Bob"})
	if c := redactedContent(t, r.version, member); !reflect.DeepEqual(c, map[string]any{"membership": "join"}) {
		t.Errorf("member content after redaction = %v", c)
	}
}

func TestRedactCreateDependsOnVersion(t *testing.T) {
	for v, keepsExtra := range map[string]bool{"10": false, "11": true} {
		r := &testRoom{t: t, version: v, roomID: "!r:" + server, key: testKey(t), state: map[StateTuple]Event{}}
		create := r.send(alice, TypeCreate, strPtr(""), map[string]any{"m.federate": false})
		c := redactedContent(t, v, create)
		if _, ok := c["m.federate"]; ok != keepsExtra {
			t.Errorf("v%s: m.federate kept = %v, want %v (%v)", v, ok, keepsExtra, c)
		}
	}
}

func TestRedactV11KeepsThirdPartyInviteSigned(t *testing.T) {
	const ev = `{"type":"m.room.member","room_id":"!r:example.org","sender":"@a:example.org","state_key":"@b:example.org","depth":3,"origin_server_ts":1,"prev_events":[],"auth_events":[],"content":{"membership":"invite","displayname":"B","third_party_invite":{"display_name":"b","signed":{"mxid":"@b:example.org","token":"t"}}}}`
	out, err := Redact("11", []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auth_events":[],"content":{"membership":"invite","third_party_invite":{"signed":{"mxid":"@b:example.org","token":"t"}}},"depth":3,"origin_server_ts":1,"prev_events":[],"room_id":"!r:example.org","sender":"@a:example.org","state_key":"@b:example.org","type":"m.room.member"}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	out, _ = Redact("10", []byte(ev))
	var top struct {
		Content map[string]any `json:"content"`
	}
	mustUnmarshal(t, out, &top)
	if _, ok := top.Content["third_party_invite"]; ok {
		t.Error("v10 must drop third_party_invite")
	}
}

func TestRedactionEventPlacement(t *testing.T) {
	for v, inContent := range map[string]bool{"10": false, "11": true} {
		r := newTestRoom(t, v)
		target := r.send(alice, "m.room.message", nil, map[string]string{"body": "oops"})
		p := r.proto(alice, TypeRedaction, nil, map[string]string{"reason": "typo"})
		p.Redacts = target.EventID()
		red, auth := r.build(p)
		if err := Authorise(red, auth); err != nil {
			t.Fatal(err)
		}
		if red.Redacts() != target.EventID() {
			t.Errorf("v%s: Redacts() = %q", v, red.Redacts())
		}
		var wire struct {
			Redacts string         `json:"redacts"`
			Content map[string]any `json:"content"`
		}
		mustUnmarshal(t, red.JSON(), &wire)
		if got := wire.Content["redacts"] != nil; got != inContent {
			t.Errorf("v%s: redacts in content = %v", v, got)
		}
		if got := wire.Redacts != ""; got == inContent {
			t.Errorf("v%s: top-level redacts = %v", v, got)
		}
		// After redaction, v11 keeps the target in content.
		if c := redactedContent(t, v, red); inContent && c["redacts"] != target.EventID() {
			t.Errorf("v11 redacted redaction content = %v", c)
		}

		ce := ToClientEvent(red, nil)
		var cc map[string]any
		mustUnmarshal(t, ce.Content, &cc)
		if ce.Redacts != target.EventID() || cc["redacts"] != target.EventID() || cc["reason"] != "typo" {
			t.Errorf("v%s client event: %+v", v, ce)
		}
	}
	r := newTestRoom(t, "10")
	if _, err := BuildEvent(r.proto(alice, TypeRedaction, nil, nil), r.key); err == nil {
		t.Error("redaction without target accepted")
	}
	p := r.proto(alice, "m.room.message", nil, nil)
	p.Redacts = "$x"
	if _, err := BuildEvent(p, r.key); err == nil {
		t.Error("redacts on a message accepted")
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	if _, err := ParseTrusted("11", []byte(`{"room_id":"nope"`)); err == nil {
		t.Error("truncated JSON accepted")
	}
	if _, err := ParseTrusted("99", []byte(`{}`)); err == nil {
		t.Error("unknown version accepted")
	}
	var uv *UnsupportedVersionError
	if _, err := Redact("99", []byte(`{}`)); err == nil || !asError(err, &uv) {
		t.Errorf("Redact unknown version: %v", err)
	}
}

func TestParseUntrustedDetectsTampering(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	ev := r.send(alice, "m.room.message", nil, map[string]string{"body": "original"})
	good, err := ParseUntrusted(r.version, ev.JSON())
	if err != nil || good.EventID() != ev.EventID() {
		t.Fatalf("untrusted parse of own event: %v", err)
	}
	var m map[string]any
	mustUnmarshal(t, ev.JSON(), &m)
	m["content"] = map[string]string{"body": "tampered"}
	tampered, _ := json.Marshal(m)
	tampered, _ = CanonicalJSON(tampered)
	got, err := ParseUntrusted(r.version, tampered)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Content()) != "{}" {
		t.Errorf("tampered content kept: %s", got.Content())
	}
}
