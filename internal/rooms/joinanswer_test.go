package rooms

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"foyer/internal/federationclient"
	"foyer/internal/rooms/matrixevents"
)

// joinAnswerRoom is a room of a.test that bob of b.test joins: its state
// events and bob's signed join on them.
type joinAnswerRoom struct {
	t      *testing.T
	keys   map[string]*matrixevents.SigningKey
	roomID string
	state  []matrixevents.Event
	byKey  map[matrixevents.StateTuple]matrixevents.Event
}

func newJoinAnswerRoom(t *testing.T) *joinAnswerRoom {
	r := &joinAnswerRoom{t: t, keys: map[string]*matrixevents.SigningKey{}, roomID: "!room:a.test", byKey: map[matrixevents.StateTuple]matrixevents.Event{}}
	for _, name := range []string{"a.test", "b.test", "evil.test"} {
		key, err := matrixevents.NewSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		r.keys[name] = key
	}
	alice := "@alice:a.test"
	r.add(r.build("a.test", alice, matrixevents.TypeCreate, "", map[string]any{}))
	r.add(r.build("a.test", alice, matrixevents.TypeMember, alice, map[string]any{"membership": "join"}))
	r.add(r.build("a.test", alice, matrixevents.TypePowerLevels, "", map[string]any{"users": map[string]any{alice: 100}}))
	r.add(r.build("a.test", alice, matrixevents.TypeJoinRules, "", map[string]any{"join_rule": "public"}))
	return r
}

// build signs an event of sender, by server, on the state so far.
func (r *joinAnswerRoom) build(server, sender, typ, stateKey string, content any) matrixevents.Event {
	r.t.Helper()
	sk := stateKey
	p := matrixevents.ProtoEvent{RoomVersion: "10", RoomID: r.roomID, Sender: sender, Type: typ, StateKey: &sk, Content: content,
		Origin: server, Timestamp: time.Now(), Depth: int64(len(r.state) + 1)}
	if len(r.state) > 0 {
		p.PrevEventIDs = []string{r.state[len(r.state)-1].EventID()}
	}
	needed, err := matrixevents.StateNeededForAuth(p)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, tup := range needed {
		if ev, ok := r.byKey[tup]; ok {
			p.AuthEventIDs = append(p.AuthEventIDs, ev.EventID())
		}
	}
	ev, err := matrixevents.BuildEvent(p, r.keys[server])
	if err != nil {
		r.t.Fatal(err)
	}
	return ev
}

func (r *joinAnswerRoom) add(ev matrixevents.Event) {
	r.state = append(r.state, ev)
	r.byKey[tupleOf(ev)] = ev
}

func (r *joinAnswerRoom) answer() federationclient.SendJoinAnswer {
	var a federationclient.SendJoinAnswer
	for _, ev := range r.state {
		a.State = append(a.State, json.RawMessage(ev.JSON()))
		a.AuthChain = append(a.AuthChain, json.RawMessage(ev.JSON()))
	}
	return a
}

func (r *joinAnswerRoom) service() *Service {
	s := &Service{log: slog.New(slog.DiscardHandler)}
	s.eventKeys = func(_ context.Context, server, keyID string, _ int64) (ed25519.PublicKey, error) {
		if k, ok := r.keys[server]; ok && k.KeyID() == keyID {
			return k.PublicKey(), nil
		}
		return nil, errors.New("no such key")
	}
	return s
}

// A send_join answer is checked before it is stored: events without
// their servers' signatures are dropped, events the auth rules refuse
// leave the state, and an answer without the room's create event, or of
// another version than make_join said, is refused.
func TestCheckJoinAnswer(t *testing.T) {
	ctx := context.Background()
	r := newJoinAnswerRoom(t)
	mallory := r.build("a.test", "@mallory:a.test", "m.room.name", "", map[string]any{"name": "taken"})
	forged := r.build("evil.test", "@alice:a.test", "m.room.topic", "", map[string]any{"topic": "forged"})
	join := r.build("b.test", "@bob:b.test", matrixevents.TypeMember, "@bob:b.test", map[string]any{"membership": "join"})
	ans := r.answer()
	ans.State = append(ans.State, json.RawMessage(mallory.JSON()), json.RawMessage(forged.JSON()))
	s := r.service()

	got, err := s.checkJoinAnswer(ctx, "10", r.roomID, join, ans)
	if err != nil {
		t.Fatalf("a good answer: %v", err)
	}
	if len(got.state) != 4 {
		t.Errorf("state has %d entries, want the 4 valid ones: %v", len(got.state), got.state)
	}
	if !got.rejected[mallory.EventID()] {
		t.Errorf("a name set by a non-member is not rejected")
	}
	if _, ok := got.events[forged.EventID()]; ok {
		t.Errorf("an event signed by another server than its sender's is kept")
	}

	if _, err := s.checkJoinAnswer(ctx, "9", r.roomID, join, r.answer()); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("an answer of another version: %v", err)
	}
	noCreate := r.answer()
	noCreate.State, noCreate.AuthChain = noCreate.State[1:], noCreate.AuthChain[1:]
	if _, err := s.checkJoinAnswer(ctx, "10", r.roomID, join, noCreate); err == nil {
		t.Errorf("an answer without the create event is accepted")
	}
	other := r.build("b.test", "@bob:b.test", matrixevents.TypeMember, "@bob:b.test", map[string]any{"membership": "join", "displayname": "other"})
	withOther := r.answer()
	withOther.Event = json.RawMessage(other.JSON())
	if _, err := s.checkJoinAnswer(ctx, "10", r.roomID, join, withOther); err == nil {
		t.Errorf("an answer with another join event than the one sent is accepted")
	}
}
