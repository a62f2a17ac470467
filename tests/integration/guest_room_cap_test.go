package integration

import (
	"sync"
	"testing"

	"foyer/internal/testharness"
)

// guest_access.max_rooms holds against concurrent joins: the cap is
// counted inside the transaction that writes the join, so of 20 joins
// to 20 rooms at once exactly max_rooms succeed and the rest get 429
// M_LIMIT_EXCEEDED, whether they come through /join or through the
// guest's own m.room.member state event.
func TestGuestMaxRoomsConcurrentJoins(t *testing.T) {
	testharness.EachBackend(t, func(t *testing.T, backend string) {
		const maxRooms, attempts = 3, 20
		cfg := testharness.Config(t, backend)
		cfg.GuestAccess.MaxRooms = maxRooms
		hs := testharness.Start(t, cfg)
		alice := hs.RegisterUser(t, "alice")
		g := hs.RegisterGuest(t)
		roomIDs := make([]string, attempts)
		for i := range roomIDs {
			roomIDs[i] = gmGuestRoom(t, hs, alice.Token, false, nil)
		}

		results := make([]*testharness.Response, attempts)
		errs := make([]error, attempts)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, room := range roomIDs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if i%2 == 0 {
					results[i], errs[i] = hs.DoErr("POST", roomPath(room, "/join"), g.Token, map[string]any{})
				} else {
					results[i], errs[i] = hs.DoErr("PUT", roomPath(room, "/state/m.room.member/"+testharness.PathEscape(g.UserID)), g.Token,
						map[string]any{"membership": "join"})
				}
			}()
		}
		close(start)
		wg.Wait()

		joined := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("join %d: %v", i, errs[i])
			}
			switch r.Status {
			case 200:
				joined++
			case 429:
				gmLimited(t, r)
			default:
				t.Fatalf("join %d: %s", i, r)
			}
		}
		if joined != maxRooms {
			t.Fatalf("%d of %d concurrent joins succeeded, want max_rooms = %d", joined, attempts, maxRooms)
		}
		jr := hs.Do(t, "GET", cs+"/joined_rooms", g.Token, nil)
		if n := len(strList(jr.JSON["joined_rooms"])); n != maxRooms {
			t.Fatalf("the guest is in %d rooms: %s", n, jr)
		}
		// Rejoining a room it is in is no new room; leaving one frees a slot.
		in := strList(jr.JSON["joined_rooms"])
		expect(t, hs.Do(t, "POST", roomPath(in[0], "/join"), g.Token, map[string]any{}), 200, "")
		expect(t, hs.Do(t, "POST", roomPath(in[0], "/leave"), g.Token, map[string]any{}), 200, "")
		for _, room := range roomIDs {
			if room != in[0] && room != in[1] && room != in[2] {
				expect(t, hs.Do(t, "POST", roomPath(room, "/join"), g.Token, map[string]any{}), 200, "")
				break
			}
		}
	})
}
