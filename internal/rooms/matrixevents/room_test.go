package matrixevents

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	server = "example.org"
	alice  = "@alice:example.org"
	bob    = "@bob:example.org"
)

var fixedTime = time.UnixMilli(1_700_000_000_000)

func strPtr(s string) *string { return &s }

func testKey(t *testing.T) *SigningKey {
	t.Helper()
	k, err := generateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testRoom keeps a linear DAG and its current state, the way the room
// server will: auth events are chosen from current state via
// StateNeededForAuth.
type testRoom struct {
	t       *testing.T
	version string
	roomID  string
	key     *SigningKey
	state   map[StateTuple]Event
	prev    []string
	depth   int64
}

func (r *testRoom) proto(sender, typ string, stateKey *string, content any) ProtoEvent {
	return ProtoEvent{
		RoomVersion:  r.version,
		RoomID:       r.roomID,
		Sender:       sender,
		Type:         typ,
		StateKey:     stateKey,
		Content:      content,
		PrevEventIDs: r.prev,
		Depth:        r.depth + 1,
		Origin:       server,
		Timestamp:    fixedTime.Add(time.Duration(r.depth) * time.Millisecond),
	}
}

// build selects auth events from current state and builds p.
func (r *testRoom) build(p ProtoEvent) (Event, []Event) {
	r.t.Helper()
	needed, err := StateNeededForAuth(p)
	if err != nil {
		r.t.Fatalf("StateNeededForAuth: %v", err)
	}
	var auth []Event
	for _, tup := range needed {
		if ev, ok := r.state[tup]; ok {
			auth = append(auth, ev)
			p.AuthEventIDs = append(p.AuthEventIDs, ev.EventID())
		}
	}
	ev, err := BuildEvent(p, r.key)
	if err != nil {
		r.t.Fatalf("BuildEvent %s: %v", p.Type, err)
	}
	return ev, auth
}

// try builds and authorises an event without adding it to the room.
func (r *testRoom) try(sender, typ string, stateKey *string, content any) (Event, error) {
	r.t.Helper()
	ev, auth := r.build(r.proto(sender, typ, stateKey, content))
	return ev, Authorise(ev, auth)
}

// send builds, authorises and appends an event, failing the test if it is
// rejected.
func (r *testRoom) send(sender, typ string, stateKey *string, content any) Event {
	r.t.Helper()
	ev, err := r.try(sender, typ, stateKey, content)
	if err != nil {
		r.t.Fatalf("%s from %s rejected: %v", typ, sender, err)
	}
	r.apply(ev)
	return ev
}

func (r *testRoom) apply(ev Event) {
	if sk := ev.StateKey(); sk != nil {
		r.state[StateTuple{ev.Type(), *sk}] = ev
	}
	r.prev = []string{ev.EventID()}
	r.depth = ev.Depth()
}

// newTestRoom creates a public room owned by alice, as /createRoom would.
func newTestRoom(t *testing.T, version string) *testRoom {
	t.Helper()
	r := &testRoom{t: t, version: version, key: testKey(t), state: map[StateTuple]Event{}}
	f, ok := Features(version)
	if !ok {
		t.Fatalf("version %s unsupported", version)
	}
	if !f.RoomIDFromCreateEvent {
		r.roomID = "!testroom:" + server
	}
	create := r.send(alice, TypeCreate, strPtr(""), map[string]any{})
	r.roomID = create.RoomID()
	r.send(alice, TypeMember, strPtr(alice), map[string]any{"membership": "join"})
	users := map[string]int{alice: 100}
	if f.PrivilegedCreators {
		users = map[string]int{}
	}
	r.send(alice, TypePowerLevels, strPtr(""), map[string]any{
		"users":          users,
		"users_default":  0,
		"events_default": 0,
		"state_default":  50,
		"ban":            50,
		"kick":           50,
		"redact":         50,
		"invite":         0,
		"events": map[string]int{
			"m.room.name":                    50,
			"m.room.power_levels":            100,
			"m.call.member":                  0,
			"org.matrix.msc3401.call.member": 0,
		},
	})
	r.send(alice, TypeJoinRules, strPtr(""), map[string]any{"join_rule": "public"})
	r.send(alice, TypeHistoryVisibility, strPtr(""), map[string]any{"history_visibility": "shared"})
	return r
}

func wantNotAllowed(t *testing.T, err error, contains string) *NotAllowedError {
	t.Helper()
	if err == nil {
		t.Fatal("event was allowed, want rejection")
	}
	var na *NotAllowedError
	if !errors.As(err, &na) {
		t.Fatalf("error %T %q is not *NotAllowedError", err, err)
	}
	if na.Message == "" || na.Error() != na.Message {
		t.Fatalf("bad message: %#v", na)
	}
	if strings.Contains(na.Message, "eventauth") {
		t.Errorf("message leaks library prefix: %q", na.Message)
	}
	t.Logf("rejected: %s", na.Message)
	if !strings.Contains(na.Message, contains) {
		t.Errorf("message %q does not contain %q", na.Message, contains)
	}
	return na
}
