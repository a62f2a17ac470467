package integration

import (
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
