package integration

import (
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// What clients call about third-party identifiers and networks on a
// server that has neither: an empty list (guests 403), requestToken
// refused as unsupported, add and bind refused for want of a validated
// session, delete and unbind answered as nothing bound, invites by email
// refused clearly (no room created for one), /thirdparty lookups empty
// (closed to guests),
// and /versions advertising cross-signing so Element sets it up.
func TestThirdPartyIdentifiersAndLookups(t *testing.T) {
	hs := testharness.StartBackend(t, "sqlite")
	alice := hs.RegisterUser(t, "alice")
	guest := hs.RegisterGuest(t)

	expect(t, hs.Do(t, "GET", cs+"/account/3pid", alice.Token, nil), 200, "")
	if r := hs.Do(t, "GET", cs+"/account/3pid", alice.Token, nil); string(r.Raw) != `{"threepids":[]}` {
		t.Errorf("GET /account/3pid: %s", r)
	}
	expect(t, hs.Do(t, "GET", cs+"/account/3pid", guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")

	email := map[string]any{"client_secret": "s3cret", "email": "alice@example.org", "send_attempt": 1}
	for _, path := range []string{"/register/email/requestToken", "/account/password/email/requestToken"} {
		expect(t, hs.Do(t, "POST", cs+path, "", email), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	}
	phone := map[string]any{"client_secret": "s3cret", "country": "GB", "phone_number": "07700900000", "send_attempt": 1}
	for _, path := range []string{"/register/msisdn/requestToken", "/account/password/msisdn/requestToken", "/account/3pid/msisdn/requestToken"} {
		expect(t, hs.Do(t, "POST", cs+path, alice.Token, phone), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	}
	expect(t, hs.Do(t, "POST", cs+"/account/3pid/email/requestToken", alice.Token, email), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	expect(t, hs.Do(t, "POST", cs+"/account/3pid/email/requestToken", "", email), 401, "M_MISSING_TOKEN")
	expect(t, hs.Do(t, "POST", cs+"/register/email/requestToken", "", "{"), 400, "M_NOT_JSON")

	session := map[string]any{"client_secret": "s3cret", "sid": "1", "id_server": "id.example.org", "id_access_token": "x"}
	for _, path := range []string{"/account/3pid/add", "/account/3pid/bind", "/account/3pid"} {
		expect(t, hs.Do(t, "POST", cs+path, alice.Token, session), 400, "M_THREEPID_AUTH_FAILED")
		expect(t, hs.Do(t, "POST", cs+path, guest.Token, session), 403, "M_GUEST_ACCESS_FORBIDDEN")
	}
	for _, path := range []string{"/account/3pid/delete", "/account/3pid/unbind"} {
		r := hs.Do(t, "POST", cs+path, alice.Token, map[string]any{"medium": "email", "address": "alice@example.org"})
		if r.Status != 200 || r.Str("id_server_unbind_result") != "no-support" {
			t.Errorf("%s: %s", path, r)
		}
		expect(t, hs.Do(t, "POST", cs+path, alice.Token, map[string]any{}), 400, "M_MISSING_PARAM")
	}

	room := createRoom(t, hs, alice.Token, map[string]any{})
	expect(t, hs.Do(t, "POST", roomPath(room, "/invite"), alice.Token,
		map[string]any{"id_server": "id.example.org", "id_access_token": "x", "medium": "email", "address": "bob@example.org"}), 400, "M_UNRECOGNIZED")
	before := hs.Do(t, "GET", cs+"/joined_rooms", alice.Token, nil)
	expect(t, hs.Do(t, "POST", cs+"/createRoom", alice.Token, map[string]any{
		"invite_3pid": []any{map[string]any{"id_server": "id.example.org", "id_access_token": "x", "medium": "email", "address": "bob@example.org"}}}), 400, "M_UNRECOGNIZED")
	if after := hs.Do(t, "GET", cs+"/joined_rooms", alice.Token, nil); string(after.Raw) != string(before.Raw) {
		t.Errorf("a room was created for a refused invite_3pid: %s", after)
	}

	if r := hs.Do(t, "GET", cs+"/thirdparty/protocols", alice.Token, nil); r.Status != 200 || string(r.Raw) != "{}" {
		t.Errorf("protocols: %s", r)
	}
	for _, path := range []string{"/thirdparty/location?alias=%23irc", "/thirdparty/location/irc?q=x", "/thirdparty/user?userid=%40a%3Ab", "/thirdparty/user/irc"} {
		if r := hs.Do(t, "GET", cs+path, alice.Token, nil); r.Status != 200 || string(r.Raw) != "[]" {
			t.Errorf("%s: %s", path, r)
		}
	}
	expect(t, hs.Do(t, "GET", cs+"/thirdparty/protocol/irc", alice.Token, nil), 404, "M_NOT_FOUND")
	// Not on the guest list: closed to guests, as every route by default.
	expect(t, hs.Do(t, "GET", cs+"/thirdparty/protocols", guest.Token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")

	if r := hs.Do(t, "GET", "/_matrix/client/versions", "", nil); !strings.Contains(string(r.Raw), `"org.matrix.e2e_cross_signing":true`) {
		t.Errorf("/versions does not advertise cross-signing: %s", r)
	}
}
