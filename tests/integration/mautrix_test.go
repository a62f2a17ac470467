package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"foyer/internal/rooms/matrixevents"
	"foyer/internal/testharness"
)

// mautrixClient is a mautrix-go client for a test server.
func mautrixClient(t *testing.T, hs *testharness.Homeserver, userID, token string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(hs.URL, id.UserID(userID), token)
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// signedDeviceKeys builds device keys signed by the device's own ed25519
// key, as a real client does.
func signedDeviceKeys(t *testing.T, userID, deviceID string) map[string]any {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawStdEncoding
	curve := make([]byte, 32)
	_, _ = rand.Read(curve)
	keys := map[string]any{
		"user_id":    userID,
		"device_id":  deviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"curve25519:" + deviceID: enc.EncodeToString(curve),
			"ed25519:" + deviceID:    enc.EncodeToString(pub),
		},
	}
	raw, _ := json.Marshal(keys)
	canonical, err := matrixevents.CanonicalJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	keys["signatures"] = map[string]any{userID: map[string]string{
		"ed25519:" + deviceID: enc.EncodeToString(ed25519.Sign(priv, canonical)),
	}}
	return keys
}

func httpStatus(err error) int {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode
	}
	return 0
}

// TestMautrixGuestJourney drives the whole guest journey with mautrix-go,
// a client library nobody here wrote: register as a guest (G-4..G-8),
// preview a world_readable room (G-32), join a can_join room (G-19),
// chat, send m.call.member state (G-16), set a display name (G-15),
// upload device keys (G-45), and upgrade to a full account keeping the
// user ID, rooms, history, device and keys (G-37..G-39). And the
// refusals: a room without can_join, creating a room (G-14), and being
// moved to leave when guest access is revoked (G-20).
func TestMautrixGuestJourney(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		hs := testharness.StartBackend(t, backend)
		host := hs.RegisterUser(t, "host")
		hostCli := mautrixClient(t, hs, host.UserID, host.Token)

		preview, err := hostCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", Name: "Read-only lobby",
			InitialState: []*event.Event{{Type: event.StateHistoryVisibility, StateKey: ptr(""),
				Content: event.Content{Parsed: &event.HistoryVisibilityEventContent{HistoryVisibility: event.HistoryVisibilityWorldReadable}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hostCli.SendText(ctx, preview.RoomID, "welcome, readers"); err != nil {
			t.Fatal(err)
		}
		callRoom, err := hostCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat", Name: "Call room",
			InitialState: []*event.Event{{Type: event.StateGuestAccess, StateKey: ptr(""),
				Content: event.Content{Parsed: &event.GuestAccessEventContent{GuestAccess: event.GuestAccessCanJoin}}}},
			PowerLevelOverride: &event.PowerLevelsEventContent{
				Users:  map[id.UserID]int{id.UserID(host.UserID): 100},
				Events: map[string]int{"m.call.member": 0, "org.matrix.msc3401.call.member": 0},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		closed, err := hostCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}

		// A guest registers in one request.
		anon := mautrixClient(t, hs, "", "")
		reg, uia, err := anon.RegisterGuest(ctx, &mautrix.ReqRegister{InitialDeviceDisplayName: "mautrix guest"})
		if err != nil || uia != nil {
			t.Fatalf("guest registration: %v %v", err, uia)
		}
		guest := mautrixClient(t, hs, reg.UserID.String(), reg.AccessToken)
		guest.DeviceID = reg.DeviceID
		who := whoamiRaw(ctx, t, guest)
		if who["is_guest"] != true || who["device_id"] != reg.DeviceID.String() {
			t.Fatalf("whoami: %v", who)
		}

		// It previews the world_readable room without joining.
		msgs, err := guest.Messages(ctx, preview.RoomID, "", "", mautrix.DirectionBackward, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range msgs.Chunk {
			found = found || ev.Content.Raw["body"] == "welcome, readers"
		}
		if !found {
			t.Fatal("the guest's preview lacks the room's message")
		}

		// It may not join a room without can_join, nor create one.
		if _, err := guest.JoinRoomByID(ctx, closed.RoomID); httpStatus(err) != http.StatusForbidden || !errors.Is(err, errGuestAccessForbidden) {
			t.Fatalf("joining a room without can_join: %v", err)
		}
		if _, err := guest.CreateRoom(ctx, &mautrix.ReqCreateRoom{}); !errors.Is(err, errGuestAccessForbidden) {
			t.Fatalf("a guest created a room: %v", err)
		}

		// It joins the can_join room, chats and joins the call.
		if _, err := guest.JoinRoomByID(ctx, callRoom.RoomID); err != nil {
			t.Fatalf("join: %v", err)
		}
		sent, err := guest.SendText(ctx, callRoom.RoomID, "hello from mautrix")
		if err != nil {
			t.Fatal(err)
		}
		callKey := "_" + reg.UserID.String() + "_" + reg.DeviceID.String()
		if _, err := guest.SendStateEvent(ctx, callRoom.RoomID, event.NewEventType("m.call.member"), callKey,
			map[string]any{"application": "m.call", "call_id": "", "scope": "m.room", "device_id": reg.DeviceID}); err != nil {
			t.Fatalf("m.call.member: %v", err)
		}
		if err := guest.SetDisplayName(ctx, "Visitor"); err != nil {
			t.Fatalf("display name: %v", err)
		}
		if err := guest.SetAvatarURL(ctx, id.ContentURI{Homeserver: "localhost", FileID: "abc"}); !errors.Is(err, errGuestAccessForbidden) {
			t.Fatalf("a guest set an avatar: %v", err)
		}
		var member event.MemberEventContent
		if err := hostCli.StateEvent(ctx, callRoom.RoomID, event.StateMember, reg.UserID.String(), &member); err != nil || member.Displayname != "Visitor" {
			t.Fatalf("display name not in the room: %+v %v", member, err)
		}
		// Device keys, signed by the device.
		keys := signedDeviceKeys(t, reg.UserID.String(), reg.DeviceID.String())
		if _, err := guest.MakeRequest(ctx, http.MethodPost, guest.BuildClientURL("v3", "keys", "upload"), map[string]any{"device_keys": keys}, nil); err != nil {
			t.Fatalf("keys/upload: %v", err)
		}

		// The guest syncs like any client.
		resp, err := guest.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := resp.Rooms.Join[callRoom.RoomID]; !ok {
			t.Fatal("the joined room is missing from the guest's sync")
		}

		// Upgrade: same user ID, same device, still joined, history and keys kept.
		var up mautrix.RespRegister
		body := map[string]any{"username": reg.UserID.Localpart(), "password": "a strong password", "guest_access_token": reg.AccessToken}
		_, err = anon.MakeRequest(ctx, http.MethodPost, anon.BuildClientURL("v3", "register"), body, &up)
		var uiaResp mautrix.RespUserInteractive
		var he mautrix.HTTPError
		if !errors.As(err, &he) || he.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("upgrade should ask for auth first: %v", err)
		}
		_ = json.Unmarshal([]byte(he.ResponseBody), &uiaResp)
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": uiaResp.Session}
		if _, err := anon.MakeRequest(ctx, http.MethodPost, anon.BuildClientURL("v3", "register"), body, &up); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		if up.UserID != reg.UserID || up.DeviceID != reg.DeviceID {
			t.Fatalf("upgrade changed the identity: %+v", up)
		}
		full := mautrixClient(t, hs, up.UserID.String(), up.AccessToken)
		if who := whoamiRaw(ctx, t, full); who["is_guest"] != false {
			t.Fatalf("after upgrade: %v", who)
		}
		joined, err := full.JoinedRooms(ctx)
		if err != nil || len(joined.JoinedRooms) != 1 || joined.JoinedRooms[0] != callRoom.RoomID {
			t.Fatalf("rooms after upgrade: %+v %v", joined, err)
		}
		ev, err := full.GetEvent(ctx, callRoom.RoomID, sent.EventID)
		if err != nil || ev.Content.Raw["body"] != "hello from mautrix" {
			t.Fatalf("history after upgrade: %v", err)
		}
		var query map[string]any
		if _, err := full.MakeRequest(ctx, http.MethodPost, full.BuildClientURL("v3", "keys", "query"),
			map[string]any{"device_keys": map[string]any{up.UserID.String(): []string{}}}, &query); err != nil {
			t.Fatal(err)
		}
		devKeys, _ := query["device_keys"].(map[string]any)[up.UserID.String()].(map[string]any)
		if _, ok := devKeys[reg.DeviceID.String()]; !ok {
			t.Fatalf("device keys lost in the upgrade: %v", query)
		}
		// Now a full user, it may create rooms.
		if _, err := full.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"}); err != nil {
			t.Fatalf("upgraded user cannot create a room: %v", err)
		}

		// A second guest is moved to leave when guest access is revoked.
		reg2, _, err := anon.RegisterGuest(ctx, &mautrix.ReqRegister{})
		if err != nil {
			t.Fatal(err)
		}
		guest2 := mautrixClient(t, hs, reg2.UserID.String(), reg2.AccessToken)
		if _, err := guest2.JoinRoomByID(ctx, callRoom.RoomID); err != nil {
			t.Fatal(err)
		}
		if _, err := hostCli.SendStateEvent(ctx, callRoom.RoomID, event.StateGuestAccess, "",
			&event.GuestAccessEventContent{GuestAccess: event.GuestAccessForbidden}); err != nil {
			t.Fatal(err)
		}
		var m2 event.MemberEventContent
		if err := hostCli.StateEvent(ctx, callRoom.RoomID, event.StateMember, reg2.UserID.String(), &m2); err != nil || m2.Membership != event.MembershipLeave {
			t.Fatalf("revoked guest still in the room: %+v %v", m2, err)
		}
		// The upgraded user is no longer a guest and stays.
		var m1 event.MemberEventContent
		if err := hostCli.StateEvent(ctx, callRoom.RoomID, event.StateMember, up.UserID.String(), &m1); err != nil || m1.Membership != event.MembershipJoin {
			t.Fatalf("upgraded user removed with the guests: %+v %v", m1, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// errGuestAccessForbidden matches the errcode (mautrix has no constant).
var errGuestAccessForbidden = mautrix.RespError{ErrCode: "M_GUEST_ACCESS_FORBIDDEN", StatusCode: http.StatusForbidden}

// whoamiRaw reads whoami as JSON: mautrix's struct has no is_guest.
func whoamiRaw(ctx context.Context, t *testing.T, cli *mautrix.Client) map[string]any {
	t.Helper()
	var out map[string]any
	if _, err := cli.MakeRequest(ctx, http.MethodGet, cli.BuildClientURL("v3", "account", "whoami"), nil, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
