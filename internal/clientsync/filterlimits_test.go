package clientsync

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A filter with several over-long lists gets the same error every time:
// the first in the documented order.
func TestParseFilterListTooLongIsStable(t *testing.T) {
	long := make([]string, MaxFilterListLength+1)
	for i := range long {
		long[i] = "x"
	}
	lists := map[string][]string{"types": long, "not_types": long, "senders": long, "not_senders": long}
	raw, err := json.Marshal(map[string]any{"room": map[string]any{
		"timeline": lists, "state": lists, "ephemeral": lists, "account_data": lists,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		_, err := ParseFilter(raw)
		if !errors.Is(err, ErrFilterListTooLong) {
			t.Fatalf("ParseFilter: %v, want ErrFilterListTooLong", err)
		}
		if !strings.Contains(err.Error(), "room.timeline.types has") {
			t.Fatalf("error %q, want it to name room.timeline.types", err)
		}
	}
}
