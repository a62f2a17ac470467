package matrixevents

import (
	"maps"
	"strings"
	"testing"
)

// Two branches set the room name; resolution keeps the later by
// origin_server_ts (same power levels), whichever set comes first, and
// an auth chain without the create event is an error, not empty state.
func TestResolveStateOfTwoBranches(t *testing.T) {
	// Room version 12 (state resolution v2.1) is left out: the pinned
	// library authorises a conflicted event without the create event,
	// which version 12 keeps out of auth_events, and drops it.
	for _, version := range []string{"10", "11"} {
		t.Run(version, func(t *testing.T) {
			r := newTestRoom(t, version)
			base := maps.Clone(r.state)
			var authChain []Event
			for _, ev := range base {
				authChain = append(authChain, ev)
			}
			first := r.send(alice, "m.room.name", strPtr(""), map[string]any{"name": "first"})
			branchA := withState(base, first)
			r.depth += 5 // a later origin_server_ts
			second := r.send(alice, "m.room.name", strPtr(""), map[string]any{"name": "second"})
			branchB := withState(base, second)
			for _, sets := range [][][]Event{{branchA, branchB}, {branchB, branchA}} {
				resolved, err := ResolveState(version, sets, authChain, nil)
				if err != nil {
					t.Fatal(err)
				}
				var name string
				for _, ev := range resolved {
					if ev.Type() == "m.room.name" {
						name = ev.EventID()
					}
				}
				if name != second.EventID() || len(resolved) != len(base)+1 {
					t.Fatalf("resolved %d events, name %s; want %d, %s", len(resolved), name, len(base)+1, second.EventID())
				}
			}
			var noCreate []Event
			for _, ev := range authChain {
				if ev.Type() != TypeCreate {
					noCreate = append(noCreate, ev)
				}
			}
			stripped := func(set []Event) []Event {
				var out []Event
				for _, ev := range set {
					if ev.Type() != TypeCreate {
						out = append(out, ev)
					}
				}
				return out
			}
			if _, err := ResolveState(version, [][]Event{stripped(branchA), stripped(branchB)}, noCreate, nil); err == nil ||
				!strings.Contains(err.Error(), "resolve state") {
				t.Fatalf("resolution without a create event: %v", err)
			}
		})
	}
}

func withState(base map[StateTuple]Event, ev Event) []Event {
	out := []Event{ev}
	for _, e := range base {
		out = append(out, e)
	}
	return out
}
