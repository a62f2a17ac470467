package integration

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"foyer/internal/testharness"
)

// Older servers join and leave through the v1 send_join and send_leave:
// the same checks and answer as v2, wrapped as [200, answer]; refusals are
// plain Matrix errors.
func TestFederationJoinAndLeaveV1(t *testing.T) {
	hs := startNamed(t, "sqlite", "local.test", nil)
	rs := txnRemote(t, "sqlite", hs)
	alice := hs.RegisterUser(t, "alice")
	room := createRoom(t, hs, alice.Token, map[string]any{"preset": "public_chat"})
	rita := "@rita:remote.test"
	version := currentRoom(t, hs, room).Info.Version
	sendV1 := func(membership string, body any, eventID string) *testharness.Response {
		path := "/_matrix/federation/v1/send_" + membership + "/" + url.PathEscape(room) + "/" + url.PathEscape(eventID)
		return hs.SignedRequest(t, rs.key, rs.name, hs.Config.ServerName, "PUT", path, body)
	}

	join := signTemplate(t, rs, makeMembership(t, rs, "join", room, rita, "?ver="+url.QueryEscape(version)))
	if r := sendV1("join", json.RawMessage(join.JSON()), "$other"); r.Status != 400 || r.Errcode() != "M_BAD_JSON" {
		t.Fatalf("v1 send_join under another event ID: %s", r)
	}
	r := sendV1("join", json.RawMessage(join.JSON()), join.EventID())
	var answer []json.RawMessage
	if r.Status != 200 || json.Unmarshal(r.Raw, &answer) != nil || len(answer) != 2 || string(answer[0]) != "200" {
		t.Fatalf("v1 send_join: %s", r)
	}
	var body struct {
		State     []json.RawMessage `json:"state"`
		AuthChain []json.RawMessage `json:"auth_chain"`
		Origin    string            `json:"origin"`
	}
	if json.Unmarshal(answer[1], &body) != nil || len(body.State) == 0 || len(body.AuthChain) == 0 || body.Origin != "local.test" {
		t.Fatalf("v1 send_join answer: %s", r)
	}
	if strings.Contains(string(answer[1]), `"event_id":"`+join.EventID()+`"`) {
		t.Errorf("the state before the join holds the join")
	}
	if m := currentRoom(t, hs, room).Membership(rita); m != "join" {
		t.Fatalf("rita is %q after v1 send_join", m)
	}

	leave := signTemplate(t, rs, makeMembership(t, rs, "leave", room, rita, ""))
	r = sendV1("leave", json.RawMessage(leave.JSON()), leave.EventID())
	if r.Status != 200 || json.Unmarshal(r.Raw, &answer) != nil || len(answer) != 2 || string(answer[0]) != "200" || string(answer[1]) != "{}" {
		t.Fatalf("v1 send_leave: %s", r)
	}
	if m := currentRoom(t, hs, room).Membership(rita); m != "leave" {
		t.Fatalf("rita is %q after v1 send_leave", m)
	}
}
