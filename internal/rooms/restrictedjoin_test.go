package rooms

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"foyer/internal/rooms/matrixevents"
)

// A restricted join's answer must carry the join signed by the
// authorising server: without the answer's copy, or with a copy lacking
// that signature, the answer is refused (the next server is asked).
func TestCheckJoinAnswerRestricted(t *testing.T) {
	ctx := context.Background()
	r := newJoinAnswerRoom(t)
	r.add(r.build("a.test", "@alice:a.test", matrixevents.TypeJoinRules, "", map[string]any{"join_rule": "restricted",
		"allow": []any{map[string]any{"type": "m.room_membership", "room_id": "!space:a.test"}}}))
	join := r.build("b.test", "@bob:b.test", matrixevents.TypeMember, "@bob:b.test",
		map[string]any{"membership": "join", "join_authorised_via_users_server": "@alice:a.test"})
	s := r.service()

	if _, err := s.checkJoinAnswer(ctx, "10", r.roomID, join, r.answer()); err == nil || !strings.Contains(err.Error(), "signed") {
		t.Errorf("an answer without the signed join: %v", err)
	}
	unsigned := r.answer()
	unsigned.Event = json.RawMessage(join.JSON())
	if _, err := s.checkJoinAnswer(ctx, "10", r.roomID, join, unsigned); err == nil {
		t.Errorf("an answer whose join lacks the authorising server's signature is accepted")
	}

	copyOf, err := matrixevents.ParseTrusted("10", join.JSON())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := matrixevents.SignEvent(copyOf, "a.test", r.keys["a.test"])
	if err != nil {
		t.Fatal(err)
	}
	good := r.answer()
	good.Event = json.RawMessage(signed.JSON())
	got, err := s.checkJoinAnswer(ctx, "10", r.roomID, join, good)
	if err != nil {
		t.Fatalf("an answer with the signed join: %v", err)
	}
	if !strings.Contains(string(got.join.JSON()), `"a.test"`) {
		t.Errorf("the join kept is not the authorising server's copy: %s", got.join.JSON())
	}
}
