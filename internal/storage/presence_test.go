package storage

import (
	"context"
	"testing"

	"foyer/internal/presence"
)

func TestPresenceLiveAndChanged(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		s := NewPresenceStore(db)
		msg := "lunch"
		for _, st := range []presence.Status{
			{UserID: "@a:hs", Presence: presence.Online, LastActiveTS: 10, StreamPos: 3},
			{UserID: "@b:hs", Presence: presence.Offline, LastActiveTS: 11, StreamPos: 4},
			{UserID: "@c:other", Presence: presence.Unavailable, StatusMsg: &msg, LastActiveTS: 12, StreamPos: 5},
			{UserID: "@a:hs", Presence: presence.Unavailable, LastActiveTS: 13, StreamPos: 6},
		} {
			if err := s.Put(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		live, err := s.Live(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 2 || live[0].UserID != "@c:other" || live[0].StatusMsg == nil || *live[0].StatusMsg != "lunch" ||
			live[1].UserID != "@a:hs" || live[1].Presence != presence.Unavailable || live[1].StreamPos != 6 {
			t.Fatalf("live = %+v, want @c:other then @a:hs (unavailable at 6); the offline @b:hs left out", live)
		}
		changed, err := s.ChangedBetween(ctx, 4, 6)
		if err != nil {
			t.Fatal(err)
		}
		if len(changed) != 2 || changed[0].StreamPos != 5 || changed[1].StreamPos != 6 {
			t.Fatalf("changed in (4, 6] = %+v, want positions 5 and 6", changed)
		}
	})
}
