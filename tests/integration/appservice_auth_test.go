package integration

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"foyer/internal/testharness"
)

const ircNamespaces = `  users:
  - exclusive: true
    regex: '@irc_.*'
  aliases:
  - exclusive: true
    regex: '#irc_.*'
  rooms: []`

// TestAppServiceRegistrationAndMasquerading: an application service
// registers users of its namespace with m.login.application_service,
// acts as its sender and as its users (user_id), logs them in, and
// nobody else may take its exclusive namespace — not by registering, nor
// as a named guest, nor by a guest's rename.
func TestAppServiceRegistrationAndMasquerading(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "irc")
		hs := testharness.Start(t, appServiceConfig(t, backend, as.registration(t, "irc", "ircbot", ircNamespaces, "")))
		server := hs.Config.ServerName
		bot := "@ircbot:" + server

		// The sender exists from the start.
		if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", as.asToken, nil); r.Status != 200 || r.Str("user_id") != bot || r.JSON["device_id"] != nil {
			t.Fatalf("whoami as the service: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/keys/upload", as.asToken, map[string]any{}); r.Status != 400 {
			t.Errorf("keys uploaded without a device: %s", r)
		}
		// Registration inside the namespace, without UIA or password.
		r := hs.Do(t, "POST", "/_matrix/client/v3/register", as.asToken, map[string]any{
			"type": "m.login.application_service", "username": "irc_alice"})
		if r.Status != 200 || r.Str("user_id") != "@irc_alice:"+server || r.Str("access_token") == "" {
			t.Fatalf("AS registration: %s", r)
		}
		aliceToken, aliceDevice := r.Str("access_token"), r.Str("device_id")
		if r := hs.Do(t, "POST", "/_matrix/client/v3/register", as.asToken, map[string]any{
			"type": "m.login.application_service", "username": "irc_bob", "inhibit_login": true}); r.Status != 200 || r.Str("access_token") != "" {
			t.Fatalf("AS registration with inhibit_login: %s", r)
		}
		for name, tc := range map[string]struct {
			token string
			body  map[string]any
			code  string
		}{
			"outside the namespace": {as.asToken, map[string]any{"type": "m.login.application_service", "username": "carol"}, "M_EXCLUSIVE"},
			"taken":                 {as.asToken, map[string]any{"type": "m.login.application_service", "username": "irc_alice"}, "M_USER_IN_USE"},
			"without the token":     {"", map[string]any{"type": "m.login.application_service", "username": "irc_x"}, "M_MISSING_TOKEN"},
			"token, wrong type":     {as.asToken, map[string]any{"username": "irc_x", "password": "long-enough-pw"}, "M_MISSING_PARAM"},
			"a user in it": {"", map[string]any{"username": "irc_mallory", "password": "long-enough-pw",
				"auth": map[string]any{"type": "m.login.dummy"}}, "M_EXCLUSIVE"},
			"a named guest in it": {"", map[string]any{"username": "irc_nameless", "auth": map[string]any{"type": "m.login.dummy"}}, "M_EXCLUSIVE"},
		} {
			if r := hs.Do(t, "POST", "/_matrix/client/v3/register", tc.token, tc.body); r.Errcode() != tc.code {
				t.Errorf("%s: %s, want %s", name, r, tc.code)
			}
		}
		if r := hs.Do(t, "GET", "/_matrix/client/v3/register/available?username=irc_zed", "", nil); r.Status != 400 || r.Errcode() != "M_EXCLUSIVE" {
			t.Errorf("availability in an exclusive namespace: %s", r)
		}
		guest := hs.RegisterGuest(t)
		if r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": "irc_guest", "password": "long-enough-pw", "guest_access_token": guest.Token,
			"auth": map[string]any{"type": "m.login.dummy"}}); r.Errcode() != "M_EXCLUSIVE" {
			t.Errorf("a guest renamed into the namespace: %s", r)
		}

		// Masquerading: as a namespaced user that exists, and no other.
		carol := hs.RegisterUser(t, "carol")
		if r := asDo(t, hs, as, "GET", "/_matrix/client/v3/account/whoami", "@irc_alice:"+server, nil); r.Status != 200 || r.Str("user_id") != "@irc_alice:"+server {
			t.Errorf("whoami masquerading: %s", r)
		}
		for _, who := range []string{carol.UserID, "@irc_nobody:" + server} {
			if r := asDo(t, hs, as, "GET", "/_matrix/client/v3/account/whoami", who, nil); r.Status != 403 || r.Errcode() != "M_FORBIDDEN" {
				t.Errorf("masquerading as %s: %s", who, r)
			}
		}
		r = hs.Do(t, "GET", "/_matrix/client/v3/account/whoami?access_token="+as.asToken+"&user_id="+testharness.PathEscape("@irc_bob:"+server), "", nil)
		if r.Status != 200 || r.Str("user_id") != "@irc_bob:"+server {
			t.Errorf("the token in the query: %s", r)
		}
		room := createRoom(t, hs, carol.Token, map[string]any{"preset": "public_chat"})
		if r := asDo(t, hs, as, "POST", "/_matrix/client/v3/join/"+testharness.PathEscape(room), "@irc_bob:"+server, map[string]any{}); r.Status != 200 {
			t.Fatalf("masqueraded join: %s", r)
		}
		if r := asDo(t, hs, as, "PUT", roomPath(room, "/send/m.room.message/t1"), "@irc_bob:"+server,
			map[string]any{"msgtype": "m.text", "body": "from irc"}); r.Status != 200 {
			t.Fatalf("masqueraded send: %s", r)
		}
		msgs := hs.Do(t, "GET", roomPath(room, "/messages?dir=b&limit=1"), carol.Token, nil)
		chunk, _ := msgs.JSON["chunk"].([]any)
		if len(chunk) != 1 || chunk[0].(map[string]any)["sender"] != "@irc_bob:"+server {
			t.Errorf("the message's sender: %s", msgs)
		}

		// Without io.element.msc4190 the service makes no devices.
		if r := asDo(t, hs, as, "PUT", "/_matrix/client/v3/devices/NEWDEV", "@irc_bob:"+server, map[string]any{}); r.Status != 404 {
			t.Errorf("a device made without MSC4190: %s", r)
		}

		// Jump to date as a masqueraded user (Complement's
		// TestJumpToDateEndpoint asks as an application service's user).
		if r := asDo(t, hs, as, "GET", "/_matrix/client/v1/rooms/"+testharness.PathEscape(room)+"/timestamp_to_event?dir=b&ts="+strconv.FormatInt(time.Now().UnixMilli()+1000, 10),
			"@irc_bob:"+server, nil); r.Status != 200 || r.Str("event_id") == "" {
			t.Errorf("timestamp_to_event as a namespaced user: %s", r)
		}

		// Its exclusive aliases are its own.
		if r := hs.Do(t, "PUT", "/_matrix/client/v3/directory/room/"+testharness.PathEscape("#irc_chan:"+server), carol.Token,
			map[string]any{"room_id": room}); r.Errcode() != "M_EXCLUSIVE" {
			t.Errorf("an exclusive alias taken by another: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/createRoom", carol.Token, map[string]any{"room_alias_name": "irc_other"}); r.Errcode() != "M_EXCLUSIVE" {
			t.Errorf("a room created with an exclusive alias: %s", r)
		}
		if r := asDo(t, hs, as, "PUT", "/_matrix/client/v3/directory/room/"+testharness.PathEscape("#irc_chan:"+server), "@irc_bob:"+server,
			map[string]any{"room_id": room}); r.Status != 200 {
			t.Errorf("the service's own alias: %s", r)
		}

		// Login as a namespaced user, with the service's token only.
		r = hs.Do(t, "POST", "/_matrix/client/v3/login", as.asToken, map[string]any{
			"type": "m.login.application_service", "identifier": map[string]any{"type": "m.id.user", "user": "irc_bob"}})
		if r.Status != 200 || r.Str("user_id") != "@irc_bob:"+server || r.Str("access_token") == "" {
			t.Errorf("AS login: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
			"type": "m.login.application_service", "identifier": map[string]any{"type": "m.id.user", "user": "irc_bob"}}); r.Status != 401 {
			t.Errorf("AS login without the token: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/login", as.asToken, map[string]any{
			"type": "m.login.application_service", "identifier": map[string]any{"type": "m.id.user", "user": "carol"}}); r.Status != 403 {
			t.Errorf("AS login outside the namespace: %s", r)
		}
		// The user's own token works as any user's.
		if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", aliceToken, nil); r.Str("user_id") != "@irc_alice:"+server {
			t.Errorf("the registered user's own token: %s", r)
		}

		// The service names a room in its alias namespace without being
		// in it (a portal room); outside the namespace it must be joined.
		dave := hs.RegisterUser(t, "dave")
		portal := createRoom(t, hs, dave.Token, map[string]any{"preset": "public_chat"})
		aliasPath := func(a string) string { return "/_matrix/client/v3/directory/room/" + url.PathEscape(a) }
		if r := hs.Do(t, "PUT", aliasPath("#irc_portal:"+server), as.asToken, map[string]any{"room_id": portal}); r.Status != 200 {
			t.Errorf("a service alias for a room it is not in: %s", r)
		}
		if r := hs.Do(t, "PUT", aliasPath("#elsewhere:"+server), as.asToken, map[string]any{"room_id": portal}); r.Status != 403 {
			t.Errorf("an alias outside the namespace for a room the sender is not in: %s", r)
		}
		// It deactivates its users without a password (they have none).
		if r := hs.Do(t, "POST", "/_matrix/client/v3/account/deactivate?user_id="+url.QueryEscape("@irc_bob:"+server), as.asToken, map[string]any{}); r.Status != 200 {
			t.Errorf("a service deactivating its user: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/account/deactivate", dave.Token, map[string]any{}); r.Status != 401 {
			t.Errorf("a user deactivating without its password: %s", r)
		}
		// Every password check passes for the service acting as its user;
		// the user's own token still gets the challenge.
		devPath := "/_matrix/client/v3/devices/" + url.PathEscape(aliceDevice)
		if r := hs.Do(t, "DELETE", devPath, aliceToken, map[string]any{}); r.Status != 401 {
			t.Errorf("a user deleting a device without its password: %s", r)
		}
		if r := hs.Do(t, "DELETE", devPath+"?user_id="+url.QueryEscape("@irc_alice:"+server), as.asToken, map[string]any{}); r.Status != 200 {
			t.Errorf("the service deleting its user's device: %s", r)
		}
		if r := hs.Do(t, "GET", "/_matrix/client/v3/account/whoami", aliceToken, nil); r.Status != 401 {
			t.Errorf("the deleted device's token still works: %s", r)
		}
	})
}

// TestAppServiceExclusiveGuests: a service that claims guests' numeric
// user IDs takes them from guests made before it was registered (their
// upgrade in place is refused) and from new guests.
func TestAppServiceExclusiveGuests(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		as := newTestAppService(t, "digits")
		cfg := appServiceConfig(t, backend)
		hs := testharness.Start(t, cfg)
		guest := hs.RegisterGuest(t)
		lp := strings.TrimPrefix(strings.Split(guest.UserID, ":")[0], "@")
		hs.Stop(t)
		hs.Config.AppServices = []string{as.registration(t, "digits", "digitsbot", `  users:
  - exclusive: true
    regex: '@[0-9]+:.*'`, "")}
		hs.Resume(t)
		if r := hs.Do(t, "POST", "/_matrix/client/v3/register", "", map[string]any{
			"username": lp, "password": "long-enough-pw", "guest_access_token": guest.Token,
			"auth": map[string]any{"type": "m.login.dummy"}}); r.Errcode() != "M_EXCLUSIVE" {
			t.Errorf("a guest upgraded in place inside an exclusive namespace: %s", r)
		}
		if r := hs.Do(t, "POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{}); r.Status != 400 || r.Errcode() != "M_EXCLUSIVE" {
			t.Errorf("a new guest when every guest number is claimed: %s", r)
		}
	})
}
