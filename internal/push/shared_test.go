package push

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// For users who kept the default rules, the one shared evaluation of an
// event gives each user exactly what their own evaluation gives; users
// the event names, and users who changed a rule, get their own.
func TestSharedOutcomeMatchesEachUsersOwn(t *testing.T) {
	s, _ := newTestService()
	ctx := context.Background()
	bob, carol, dave := "@bob:example.org", "@carol:example.org", "@dave:example.org"
	// dave turns the member-event rule off: his rules are no longer stock.
	if err := s.SetEnabled(ctx, dave, Override, RuleMemberEvent, false); err != nil {
		t.Fatal(err)
	}
	state := func(k string) *string { return &k }
	content := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	events := []Event{
		{Type: "m.room.message", Sender: me, Content: content(map[string]any{"msgtype": "m.text", "body": "hello"})},
		{Type: "m.room.message", Sender: me, Content: content(map[string]any{"msgtype": "m.notice", "body": "notice"})},
		{Type: "m.room.message", Sender: me, Content: content(map[string]any{"body": "hi bob", "m.mentions": map[string]any{"user_ids": []string{bob}}})},
		{Type: "m.room.message", Sender: me, Content: content(map[string]any{"body": "everyone", "m.mentions": map[string]any{"room": true}})},
		{Type: "m.room.encrypted", Sender: me, Content: content(map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})},
		{Type: "m.room.member", Sender: me, StateKey: state(bob), Content: content(map[string]any{"membership": "invite"})},
		{Type: "m.room.member", Sender: me, StateKey: state(carol), Content: content(map[string]any{"membership": "join"})},
		{Type: "m.room.member", Sender: me, StateKey: state("@BOB:example.org"), Content: content(map[string]any{"membership": "invite"})},
		{Type: "m.room.tombstone", Sender: me, StateKey: state(""), Content: content(map[string]any{"body": "moved"})},
		{Type: "m.reaction", Sender: me, Content: content(map[string]any{})},
		{Type: "m.call.invite", Sender: me, Content: content(map[string]any{})},
	}
	for _, members := range []int{2, 20} {
		rc := RoomContext{MemberCount: members, SenderPowerLevel: 100, NotificationPowerLevels: map[string]int64{"room": 50}}
		for i, ev := range events {
			pe := Prepare(ev)
			shared := Shared(pe, rc)
			for _, user := range []string{bob, carol, dave} {
				t.Run(fmt.Sprintf("members=%d/event=%d/%s", members, i, user), func(t *testing.T) {
					got, gotOK, err := s.EvaluateShared(ctx, user, pe, rc, shared)
					if err != nil {
						t.Fatal(err)
					}
					want, wantOK, err := s.EvaluatePrepared(ctx, user, pe, rc)
					if err != nil {
						t.Fatal(err)
					}
					if gotOK != wantOK || fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("shared evaluation %v %+v, the user's own %v %+v", gotOK, got, wantOK, want)
					}
				})
			}
		}
	}
}
