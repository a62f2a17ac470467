package integration

import (
	"net/url"
	"sync"
	"testing"

	"foyer/internal/testharness"
)

// A write the server has acknowledged is in the caller's next sync, even
// while other writers with earlier stream positions are still committing:
// eight guests at a time register, join one room and do a first sync,
// which must show the room just joined (read your own writes).
func TestFirstSyncShowsRoomJustJoined(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		hs := testharness.StartBackend(t, backend)
		owner := hs.RegisterUser(t, "owner")
		room := gmGuestRoom(t, hs, owner.Token, false, nil)
		const workers, journeys = 8, 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		missing := 0
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range journeys {
					g := hs.RegisterGuest(t)
					if r := hs.Do(t, "POST", roomPath(room, "/join"), g.Token, map[string]any{}); r.Status != 200 {
						t.Errorf("join: %s", r)
						return
					}
					r := hs.Do(t, "GET", cs+"/sync?timeout=0", g.Token, nil)
					rooms, _ := r.JSON["rooms"].(map[string]any)
					join, _ := rooms["join"].(map[string]any)
					if _, ok := join[room]; !ok {
						mu.Lock()
						missing++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if missing != 0 {
			t.Fatalf("%d of %d first syncs did not show the room just joined", missing, workers*journeys)
		}
	})
}

// BenchmarkOnboarding is one guest's journey into a growing room:
// register, join, first sync (lazy-loading members, as clients do). Its cost must not grow with the room:
//
//	go test ./tests/integration -run '^$' -bench Onboarding -benchtime 1000x -count 3
func BenchmarkOnboarding(b *testing.B) {
	hs := testharness.StartBackend(b, "sqlite")
	owner := hs.RegisterUser(b, "owner")
	room := createRoom(b, hs, owner.Token, map[string]any{"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
	lazy := url.QueryEscape(`{"room":{"state":{"lazy_load_members":true},"timeline":{"limit":20}}}`)
	for b.Loop() {
		g := hs.RegisterGuest(b)
		if r := hs.Do(b, "POST", roomPath(room, "/join"), g.Token, map[string]any{}); r.Status != 200 {
			b.Fatalf("join: %s", r)
		}
		if r := hs.Do(b, "GET", cs+"/sync?timeout=0&filter="+lazy, g.Token, nil); r.Status != 200 {
			b.Fatalf("sync: %s", r)
		}
	}
}
