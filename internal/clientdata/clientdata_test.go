package clientdata

import (
	"context"
	"encoding/json"
	"testing"

	"foyer/internal/refusal"
)

// memStore is enough of Store for ReceiptsSince.
type memStore struct {
	Store
	receipts []Receipt
}

func (m *memStore) ReceiptsBetween(_ context.Context, roomIDs []string, from, to int64) ([]Receipt, error) {
	var out []Receipt
	for _, r := range m.receipts {
		for _, id := range roomIDs {
			if r.RoomID == id && r.StreamPos > from && r.StreamPos <= to {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func TestReceiptsSinceShapeAndPrivacy(t *testing.T) {
	st := &memStore{receipts: []Receipt{
		{RoomID: "!a:x", Type: ReceiptRead, UserID: "@bob:x", EventID: "$1", TS: 10, StreamPos: 1},
		{RoomID: "!a:x", Type: ReceiptRead, UserID: "@bob:x", EventID: "$1", ThreadID: "main", TS: 11, StreamPos: 2},
		{RoomID: "!a:x", Type: ReceiptReadPrivate, UserID: "@bob:x", EventID: "$2", TS: 12, StreamPos: 3},
		{RoomID: "!b:x", Type: ReceiptRead, UserID: "@carol:x", EventID: "$9", ThreadID: "$root", TS: 13, StreamPos: 4},
		{RoomID: "!c:x", Type: ReceiptRead, UserID: "@carol:x", EventID: "$8", TS: 14, StreamPos: 5},
	}}
	s := NewService(st, nil, nil)
	got, err := s.ReceiptsSince(context.Background(), []string{"!a:x", "!b:x"}, 0, 4, "@alice:x")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(got)
	// Bob's unthreaded receipt wins the one slot on $1; his private one
	// is hidden from alice; !c:x was not asked for.
	want := `{"!a:x":{"$1":{"m.read":{"@bob:x":{"ts":10}}}},"!b:x":{"$9":{"m.read":{"@carol:x":{"ts":13,"thread_id":"$root"}}}}}`
	if string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
	own, _ := s.ReceiptsSince(context.Background(), []string{"!a:x"}, 2, 4, "@bob:x")
	if _, ok := own["!a:x"]["$2"][ReceiptReadPrivate]["@bob:x"]; !ok || len(own["!a:x"]) != 1 {
		t.Fatalf("bob's own private receipt in (2,4]: %+v", own)
	}
	if none, _ := s.ReceiptsSince(context.Background(), []string{"!a:x"}, 4, 4, "@bob:x"); len(none) != 0 {
		t.Fatalf("empty range: %+v", none)
	}
}

func TestReceiptThreadIDAndTagValidation(t *testing.T) {
	for id, ok := range map[string]bool{"": true, "main": true, "$abc": true, "$": false, "side": false, "!room": false} {
		if ValidThreadID(id) != ok {
			t.Errorf("ValidThreadID(%q) = %v", id, !ok)
		}
	}
	for body, kind := range map[string]refusal.Kind{
		`{}`: 0, `{"order":0}`: 0, `{"order":1}`: 0, `{"order":0.5,"x":1}`: 0,
		`{"order":"1"}`: refusal.BadJSON, `{"order":null}`: 0, `{"order":1.01}`: refusal.InvalidParam, `{"order":-0.1}`: refusal.InvalidParam,
	} {
		var c map[string]json.RawMessage
		_ = json.Unmarshal([]byte(body), &c)
		err := ValidateTag(c)
		var got refusal.Kind
		if e, ok := err.(*refusal.Error); ok {
			got = e.Kind
		}
		if got != kind {
			t.Errorf("ValidateTag(%s) = %v, want kind %d", body, err, kind)
		}
	}
}

func TestAccountDataServerManagedTypes(t *testing.T) {
	s := NewService(&memStore{}, nil, nil)
	for _, typ := range []string{TypeFullyRead, TypePushRules} {
		err := s.SetAccountData(context.Background(), "@a:x", "", typ, json.RawMessage(`{}`))
		if e, ok := err.(*refusal.Error); !ok || e.Kind != refusal.ServerManaged {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if err := s.SetAccountData(context.Background(), "@a:x", "", "x", json.RawMessage(`[1]`)); err == nil {
		t.Error("a non-object was accepted")
	}
}
