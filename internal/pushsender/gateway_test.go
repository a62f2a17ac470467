package pushsender

import (
	"encoding/json"
	"testing"

	"foyer/internal/push"
)

func TestTweaksAndPriority(t *testing.T) {
	actions := []json.RawMessage{
		json.RawMessage(`"notify"`),
		json.RawMessage(`{"set_tweak":"highlight"}`),
		json.RawMessage(`{"set_tweak":"sound","value":"default"}`),
		json.RawMessage(`{"set_tweak":"custom"}`),
	}
	tweaks := tweaksOf(actions)
	if string(tweaks["highlight"]) != "true" || string(tweaks["sound"]) != `"default"` || len(tweaks) != 2 {
		t.Fatalf("tweaks = %v", tweaks)
	}
	for _, c := range []struct {
		eventType string
		tweaks    map[string]json.RawMessage
		want      string
	}{
		{"m.room.message", nil, "low"},
		{"m.room.encrypted", nil, "high"},
		{"m.room.message", map[string]json.RawMessage{"highlight": json.RawMessage("true")}, "high"},
		{"m.room.message", map[string]json.RawMessage{"highlight": json.RawMessage("false")}, "low"},
		{"m.room.message", map[string]json.RawMessage{"sound": json.RawMessage(`"default"`)}, "high"},
	} {
		if got := priority(c.eventType, c.tweaks); got != c.want {
			t.Errorf("priority(%s, %v) = %s, want %s", c.eventType, c.tweaks, got, c.want)
		}
	}
}

func TestDeviceOfLeavesOutURL(t *testing.T) {
	p := push.Pusher{AppID: "app", PushKey: "key", CreatedTS: 1_700_000_000_123,
		Data: json.RawMessage(`{"url":"https://gw.example/_matrix/push/v1/notify","format":"event_id_only","x":1}`)}
	d := deviceOf(p, nil)
	if d.PushKeyTS != 1_700_000_000 || d.Data["url"] != nil || string(d.Data["x"]) != "1" || string(d.Data["format"]) != `"event_id_only"` {
		t.Fatalf("device = %+v", d)
	}
	if !eventIDOnly(p) || gatewayHost(p) != "gw.example" {
		t.Fatalf("event_id_only %v, host %q", eventIDOnly(p), gatewayHost(p))
	}
	// Data with nothing but the URL is still an object.
	p.Data = json.RawMessage(`{"url":"https://gw.example/_matrix/push/v1/notify"}`)
	raw, _ := json.Marshal(deviceOf(p, nil))
	var back map[string]any
	_ = json.Unmarshal(raw, &back)
	if data, ok := back["data"].(map[string]any); !ok || len(data) != 0 {
		t.Fatalf("device JSON %s: want an empty data object", raw)
	}
}

func TestStrippedRoomName(t *testing.T) {
	named := json.RawMessage(`[{"type":"m.room.canonical_alias","state_key":"","content":{"alias":"#a:x"}},{"type":"m.room.name","state_key":"","content":{"name":"N"}}]`)
	aliased := json.RawMessage(`[{"type":"m.room.canonical_alias","state_key":"","content":{"alias":"#a:x"}}]`)
	if strippedRoomName(named) != "N" || strippedRoomName(aliased) != "#a:x" || strippedRoomName(json.RawMessage(`null`)) != "" {
		t.Fatal("stripped room names")
	}
}
