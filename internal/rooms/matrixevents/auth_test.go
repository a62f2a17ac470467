package matrixevents

import (
	"regexp"
	"testing"
)

var eventIDv4 = regexp.MustCompile(`^\$[A-Za-z0-9_-]{43}$`)

func TestRoomEventIDsAreStable(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	create := r.state[StateTuple{TypeCreate, ""}]
	if create.Version() != DefaultRoomVersion {
		t.Fatalf("version = %q", create.Version())
	}
	for tup, ev := range r.state {
		if !eventIDv4.MatchString(ev.EventID()) {
			t.Errorf("%v: event ID %q not in v4+ format", tup, ev.EventID())
		}
		again, err := ParseTrusted(r.version, ev.JSON())
		if err != nil {
			t.Fatalf("ParseTrusted: %v", err)
		}
		if again.EventID() != ev.EventID() {
			t.Errorf("%v: reparsed ID %q != %q", tup, again.EventID(), ev.EventID())
		}
		if again.RoomID() != r.roomID || again.Sender() != alice || again.Depth() != ev.Depth() {
			t.Errorf("%v: accessors changed after reparse", tup)
		}
	}

	// Same inputs, same key, same time: same ID (ed25519 is deterministic).
	p := r.proto(alice, "m.room.topic", strPtr(""), map[string]string{"topic": "x"})
	a, _ := r.build(p)
	b, _ := r.build(p)
	if a.EventID() != b.EventID() {
		t.Errorf("rebuild changed event ID: %s vs %s", a.EventID(), b.EventID())
	}
	if a.OriginServerTS() != p.Timestamp.UnixMilli() {
		t.Errorf("origin_server_ts = %d", a.OriginServerTS())
	}

	// Up to v10 create events carry creator; from v11 only room_version.
	for v, creator := range map[string]any{"10": alice, "11": nil} {
		var c map[string]any
		mustUnmarshal(t, newTestRoom(t, v).state[StateTuple{TypeCreate, ""}].Content(), &c)
		if c["room_version"] != v || c["creator"] != creator {
			t.Errorf("v%s create content = %v", v, c)
		}
	}
}

func TestSecondUserJoinsPublicRoom(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	join := r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
	if join.Membership() != "join" {
		t.Fatalf("membership = %q", join.Membership())
	}
	// Now a member, bob can chat.
	r.send(bob, "m.room.message", nil, map[string]string{"msgtype": "m.text", "body": "hi"})
}

func TestInviteOnlyRoomNeedsInvite(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	r.send(alice, TypeJoinRules, strPtr(""), map[string]string{"join_rule": "invite"})

	_, err := r.try(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
	na := wantNotAllowed(t, err, "invite-only")
	t.Logf("message: %s (library: %s)", na.Message, na.Detail)

	r.send(alice, TypeMember, strPtr(bob), map[string]string{"membership": "invite"})
	r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
}

func TestPowerLevelBlocksRoomName(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})

	_, err := r.try(bob, "m.room.name", strPtr(""), map[string]string{"name": "mine"})
	na := wantNotAllowed(t, err, "m.room.name")
	want := "you are not allowed to send this event: sender's power level 0 is below the 50 needed for m.room.name"
	if na.Message != want {
		t.Errorf("message = %q, want %q", na.Message, want)
	}
	r.send(alice, "m.room.name", strPtr(""), map[string]string{"name": "ours"})
}

func TestNonMemberCannotSend(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	_, err := r.try(bob, "m.room.message", nil, map[string]string{"body": "hi"})
	wantNotAllowed(t, err, "not joined")
}

// G-16: guests in a call publish m.call.member state under a key that
// embeds their user ID after a leading underscore.
func TestCallMemberStateWithUnderscoreKey(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
	r.send(bob, "m.call.member", strPtr("_"+bob+"_DEVICE"), map[string]any{
		"application": "m.call", "call_id": "", "device_id": "DEVICE",
	})
}

func TestStateKeyOfAnotherUserRejected(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
	_, err := r.try(bob, "m.call.member", strPtr(alice), map[string]any{})
	wantNotAllowed(t, err, "only that user")
	// Their own user ID is fine.
	r.send(bob, "m.call.member", strPtr(bob), map[string]any{})
}

func TestBannedUserCannotRejoin(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
	_, err := r.try(bob, TypeMember, strPtr(alice), map[string]string{"membership": "ban"})
	wantNotAllowed(t, err, "ban "+alice)
	r.send(alice, TypeMember, strPtr(bob), map[string]string{"membership": "ban"})
	_, err = r.try(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
	wantNotAllowed(t, err, "banned")
}

func TestAuthoriseWithoutCreateEvent(t *testing.T) {
	r := newTestRoom(t, DefaultRoomVersion)
	ev, _ := r.build(r.proto(alice, "m.room.message", nil, map[string]string{"body": "x"}))
	err := Authorise(ev, []Event{r.state[StateTuple{TypeMember, alice}]})
	wantNotAllowed(t, err, "m.room.create")
}

func TestStateNeededForAuth(t *testing.T) {
	got, err := StateNeededForAuth(ProtoEvent{
		Sender: bob, Type: TypeMember, StateKey: strPtr(bob),
		Content: map[string]string{"membership": "join"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[StateTuple]bool{
		{TypeCreate, ""}: true, {TypePowerLevels, ""}: true,
		{TypeJoinRules, ""}: true, {TypeMember, bob}: true,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for _, tup := range got {
		if !want[tup] {
			t.Errorf("unexpected %v", tup)
		}
	}
	if _, err := StateNeededForAuth(ProtoEvent{Sender: bob, Type: TypeMember, StateKey: strPtr(bob), Content: "[]"}); err == nil {
		t.Error("non-object content accepted")
	}
}

// Every supported version can create a room and admit a second user, so
// the version-specific filling-in in BuildEvent is right for all of them.
func TestEveryVersionBuildsARoom(t *testing.T) {
	for _, v := range SupportedVersions() {
		t.Run("v"+v, func(t *testing.T) {
			r := newTestRoom(t, v)
			r.send(bob, TypeMember, strPtr(bob), map[string]string{"membership": "join"})
			_, err := r.try(bob, "m.room.name", strPtr(""), map[string]string{"name": "x"})
			wantNotAllowed(t, err, "power level")
		})
	}
}

func TestVersion12RoomIDComesFromCreate(t *testing.T) {
	r := newTestRoom(t, "12")
	create := r.state[StateTuple{TypeCreate, ""}]
	if create.RoomID() != "!"+create.EventID()[1:] || !ValidRoomID(create.RoomID()) {
		t.Fatalf("room ID %q, create ID %q", create.RoomID(), create.EventID())
	}
	join := r.state[StateTuple{TypeMember, alice}]
	var wire struct {
		AuthEvents []string `json:"auth_events"`
	}
	mustUnmarshal(t, join.JSON(), &wire)
	for _, id := range wire.AuthEvents {
		if id == create.EventID() {
			t.Error("v12 auth_events on the wire must not cite the create event")
		}
	}
	if ids := join.AuthEventIDs(); len(ids) == 0 || ids[0] != create.EventID() {
		t.Errorf("AuthEventIDs() = %v, want create first", ids)
	}
	if _, err := BuildEvent(ProtoEvent{RoomVersion: "12", RoomID: "!x:" + server, Sender: alice,
		Type: TypeCreate, StateKey: strPtr(""), Depth: 1, Origin: server}, r.key); err == nil {
		t.Error("v12 create with a room ID accepted")
	}
}
