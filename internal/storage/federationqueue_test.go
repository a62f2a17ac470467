package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"foyer/internal/federationsender"
)

// The federation queue hands out each destination's items in queue order,
// at most the asked number of each kind, trims a kind to its newest items,
// and removes what was sent.
func TestFederationQueue(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		q := NewFederationQueue(db)
		item := func(kind federationsender.Kind, i int) json.RawMessage {
			return json.RawMessage(fmt.Sprintf(`{"%s":%d}`, kind, i))
		}
		for i := range 4 {
			if err := q.Add(ctx, []string{"b.example", "c.example"}, federationsender.PDU, item(federationsender.PDU, i), 1, 0); err != nil {
				t.Fatal(err)
			}
			if err := q.Add(ctx, []string{"b.example"}, federationsender.EDU, item(federationsender.EDU, i), 1, 3); err != nil {
				t.Fatal(err)
			}
		}
		dests, err := q.Destinations(ctx)
		if err != nil || !slices.Equal(dests, []string{"b.example", "c.example"}) {
			t.Fatalf("destinations %v %v", dests, err)
		}
		items, err := q.Next(ctx, "b.example", 2, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, it := range items {
			if i > 0 && it.Position <= items[i-1].Position {
				t.Fatalf("out of order: %+v", items)
			}
			got = append(got, string(it.JSON))
		}
		// Two PDUs asked for; the oldest EDU was trimmed by the cap of 3.
		want := []string{`{"pdu":0}`, `{"pdu":1}`, `{"edu":1}`, `{"edu":2}`, `{"edu":3}`}
		if !slices.Equal(got, want) {
			t.Fatalf("next %v, want %v", got, want)
		}
		var positions []int64
		for _, it := range items {
			positions = append(positions, it.Position)
		}
		if err := q.Remove(ctx, "b.example", positions); err != nil {
			t.Fatal(err)
		}
		items, _ = q.Next(ctx, "b.example", 50, 100)
		if len(items) != 2 || string(items[0].JSON) != `{"pdu":2}` || items[0].Kind != federationsender.PDU {
			t.Fatalf("after removal: %+v", items)
		}
		if items, _ := q.Next(ctx, "c.example", 50, 100); len(items) != 4 {
			t.Fatalf("c.example has %d items, want its 4", len(items))
		}
		if err := q.RemoveDestination(ctx, "c.example"); err != nil {
			t.Fatal(err)
		}
		if dests, _ := q.Destinations(ctx); !slices.Equal(dests, []string{"b.example"}) {
			t.Fatalf("destinations after removal %v", dests)
		}
	})
}
