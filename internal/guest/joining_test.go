package guest

import (
	"encoding/json"
	"testing"
)

// G-18, G-19: only an explicit can_join lets guests in.
func TestGuestAccessAllowsJoin_G18_G19(t *testing.T) {
	for content, want := range map[string]bool{
		`{"guest_access":"can_join"}`:  true,
		`{"guest_access":"forbidden"}`: false,
		`{"guest_access":"CAN_JOIN"}`:  false,
		`{"guest_access":"open"}`:      false,
		`{}`:                           false,
		`{"guest_access":1}`:           false,
	} {
		if got := GuestAccessAllowsJoin(json.RawMessage(content)); got != want {
			t.Errorf("%s: got %v want %v", content, got, want)
		}
	}
	if GuestAccessAllowsJoin(nil) {
		t.Error("absent event must mean forbidden")
	}
}
