package rooms

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"

	"foyer/internal/rooms/matrixevents"
)

// A summary carried across membership changes equals one counted afresh:
// joins, invites, leaves (of members among the first shown too), a
// server's last member leaving, and a change of another kind of state.
func TestSummaryAfterMembersMatchesRecount(t *testing.T) {
	r := newJoinAnswerRoom(t)
	e := &roomEntry{state: map[matrixevents.StateTuple]StoredEvent{}}
	for _, ev := range r.state {
		e.state[tupleOf(ev)] = StoredEvent{Event: ev}
	}
	users := []string{"@a:a.test", "@b:a.test", "@c:b.test", "@d:b.test", "@e:evil.test", "@f:a.test", "@g:b.test", "@h:a.test", "@i:evil.test"}
	memberships := []string{"join", "join", "invite", "leave", "ban"}
	rng := rand.New(rand.NewPCG(1, 2))
	carried, cleared := 0, 0
	for step := range 400 {
		e.summaryLocked()
		before := e.state
		e.state = maps.Clone(before)
		var changed []matrixevents.StateTuple
		for range 1 + rng.IntN(3) {
			var ev matrixevents.Event
			if rng.IntN(40) == 0 {
				ev = r.build("a.test", "@alice:a.test", "m.room.name", "", map[string]any{"name": "step"})
			} else {
				u := users[rng.IntN(len(users))]
				_, server, _ := matrixevents.SplitUserID(u)
				ev = r.build(server, u, matrixevents.TypeMember, u, map[string]any{"membership": memberships[rng.IntN(len(memberships))]})
			}
			k := tupleOf(ev)
			e.state[k] = StoredEvent{Event: ev}
			changed = append(changed, k)
		}
		e.summaryAfterMembers(before, changed)
		if e.summary == nil {
			cleared++
			continue
		}
		carried++
		got := *e.summary
		e.summary = nil
		want := e.summaryLocked()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: carried summary %+v, counted afresh %+v", step, got, want)
		}
	}
	if carried < 200 || cleared == 0 {
		t.Fatalf("%d summaries carried, %d cleared: the changes did not exercise both", carried, cleared)
	}
	t.Logf("%d summaries carried across a change, %d cleared", carried, cleared)
}
