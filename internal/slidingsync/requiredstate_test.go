package slidingsync

import (
	"testing"

	"foyer/internal/rooms/matrixevents"
)

func TestStateSpec(t *testing.T) {
	key := func(typ, sk string) matrixevents.StateTuple { return matrixevents.StateTuple{Type: typ, StateKey: sk} }
	s := specOf([][]string{{"m.room.member", "$ME"}, {"m.room.member", "$LAZY"}, {"m.space.child", "*"}, {"m.room.name", ""}})
	for _, c := range []struct {
		key  matrixevents.StateTuple
		want bool
	}{
		{key("m.room.member", "@me:x"), true},
		{key("m.room.member", "@other:x"), false},
		{key("m.space.child", "!a:x"), true},
		{key("m.room.name", ""), true},
		{key("m.room.topic", ""), false},
	} {
		if got := s.wants(c.key, "@me:x"); got != c.want {
			t.Errorf("wants(%v) = %v", c.key, got)
		}
	}
	if !s.lazyMembers() || s.all() {
		t.Fatal("lazy / all")
	}
	all := specOf([][]string{{"*", "*"}})
	if !all.all() || !all.wants(key("anything", "k"), "@me:x") {
		t.Fatal("wildcard")
	}
	added := specOf([][]string{{"m.room.name", ""}, {"m.room.topic", ""}, {"m.room.member", "$LAZY"}}).added(s)
	if len(added) != 1 || !added["m.room.topic"][""] {
		t.Fatalf("added %v", added)
	}
	if len(s.added(all)) != 0 {
		t.Fatal("nothing is added to everything")
	}
}
