package slidingsync

import (
	"maps"

	"foyer/internal/rooms/matrixevents"
)

// Special state keys of required_state.
const (
	wildcard = "*"
	lazyKey  = "$LAZY"
	meKey    = "$ME"
)

// stateSpec is a room's required_state: event type → state keys, "*"
// standing for any type or any key.
type stateSpec map[string]map[string]bool

func specOf(pairs [][]string) stateSpec {
	s := stateSpec{}
	for _, p := range pairs {
		if s[p[0]] == nil {
			s[p[0]] = map[string]bool{}
		}
		s[p[0]][p[1]] = true
	}
	return s
}

// union is the state both specs ask for.
func (s stateSpec) union(o stateSpec) stateSpec {
	out := stateSpec{}
	for _, src := range []stateSpec{s, o} {
		for typ, keys := range src {
			if out[typ] == nil {
				out[typ] = map[string]bool{}
			}
			maps.Copy(out[typ], keys)
		}
	}
	return out
}

func (s stateSpec) equal(o stateSpec) bool {
	return maps.EqualFunc(s, o, func(a, b map[string]bool) bool { return maps.Equal(a, b) })
}

// all is true when every state event is asked for.
func (s stateSpec) all() bool { return s[wildcard] != nil }

// lazyMembers is true when members are to be lazy-loaded.
func (s stateSpec) lazyMembers() bool { return s[matrixevents.TypeMember][lazyKey] }

// wants reports whether the spec asks for the state event at key
// explicitly (lazy-loaded members are decided elsewhere).
func (s stateSpec) wants(key matrixevents.StateTuple, self string) bool {
	if s.all() {
		return true
	}
	keys := s[key.Type]
	if keys == nil {
		return false
	}
	if keys[wildcard] || keys[key.StateKey] {
		return true
	}
	return keys[meKey] && key.StateKey == self
}

// added is the part of s that old did not ask for, as a spec: what a
// changed request must send of a room already sent.
func (s stateSpec) added(old stateSpec) stateSpec {
	if old.all() {
		return stateSpec{}
	}
	if s.all() {
		return s
	}
	out := stateSpec{}
	for typ, keys := range s {
		for k := range keys {
			if old[typ][k] || old[typ][wildcard] || k == lazyKey {
				continue
			}
			if out[typ] == nil {
				out[typ] = map[string]bool{}
			}
			out[typ][k] = true
		}
	}
	return out
}
