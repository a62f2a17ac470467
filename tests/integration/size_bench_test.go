package integration

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// The cost of a request must not grow with what it does not touch. These
// benchmarks time one request against a small and a large surrounding;
// compare the two sizes of the same run (the machine is shared: ratios,
// not absolute figures).
//
//	go test ./tests/integration -run '^$' -bench 'ByRoomsPerUser|ByRoomSize' -benchtime 100x -count 3

// BenchmarkSendAndSyncByRoomsPerUser: a user in 1 or 2,000 rooms sends a
// message to one of them and syncs incrementally until it sees it.
func BenchmarkSendAndSyncByRoomsPerUser(b *testing.B) {
	for _, backend := range testharness.Backends {
		for _, nRooms := range []int{1, 2000} {
			b.Run(fmt.Sprintf("%s/rooms=%d", backend, nRooms), func(b *testing.B) {
				hs := testharness.Start(b, testharness.Config(b, backend))
				alice := hs.RegisterUser(b, "alice")
				var room string
				for i := range nRooms {
					room = createRoom(b, hs, alice.Token, map[string]any{"name": fmt.Sprint("room ", i)})
				}
				filter := url.QueryEscape(`{"room":{"timeline":{"limit":10},"state":{"lazy_load_members":true}}}`)
				since := hs.Do(b, "GET", cs+"/sync?timeout=0&filter="+filter, alice.Token, nil).Str("next_batch")
				var sending, syncing time.Duration
				b.ResetTimer()
				for i := range b.N {
					began := time.Now()
					sendMessage(b, hs, alice.Token, room, fmt.Sprint("message ", i))
					sent := time.Now()
					r := hs.Do(b, "GET", cs+"/sync?timeout=0&filter="+filter+"&since="+url.QueryEscape(since), alice.Token, nil)
					if r.Status != 200 || jsonPath(r.JSON, "rooms", "join", room) == nil {
						b.Fatalf("sync after the send: %s", r)
					}
					since = r.Str("next_batch")
					sending, syncing = sending+sent.Sub(began), syncing+time.Since(sent)
				}
				b.ReportMetric(float64(sending.Microseconds())/float64(b.N)/1000, "send-ms")
				b.ReportMetric(float64(syncing.Microseconds())/float64(b.N)/1000, "sync-ms")
			})
		}
	}
}

// BenchmarkJoinByRoomSize: a new guest joins a room of 10 or 2,000
// members (guests, joined beforehand), then makes its first sync. (Filling
// a room of 10,000 through the API takes about half an hour here: edit
// the sizes to measure it.)
func BenchmarkJoinByRoomSize(b *testing.B) {
	for _, backend := range testharness.Backends {
		for _, members := range []int{10, 2000} {
			b.Run(fmt.Sprintf("%s/members=%d", backend, members), func(b *testing.B) {
				hs := testharness.Start(b, testharness.Config(b, backend))
				alice := hs.RegisterUser(b, "alice")
				room := createRoom(b, hs, alice.Token, map[string]any{"preset": "public_chat",
					"initial_state": []any{map[string]any{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}}}})
				join := func(tok string) {
					if r := hs.Do(b, "POST", cs+"/join/"+url.PathEscape(room), tok, map[string]any{}); r.Status != 200 {
						b.Fatalf("join: %s", r)
					}
				}
				for range members - 1 {
					join(hs.RegisterGuest(b).Token)
				}
				filter := url.QueryEscape(`{"room":{"timeline":{"limit":10},"state":{"lazy_load_members":true}}}`)
				var joining, syncing time.Duration
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					g := hs.RegisterGuest(b)
					b.StartTimer()
					began := time.Now()
					join(g.Token)
					joined := time.Now()
					r := hs.Do(b, "GET", cs+"/sync?timeout=0&filter="+filter, g.Token, nil)
					if r.Status != 200 || jsonPath(r.JSON, "rooms", "join", room) == nil {
						b.Fatalf("first sync after the join: %s", r)
					}
					joining, syncing = joining+joined.Sub(began), syncing+time.Since(joined)
				}
				b.ReportMetric(float64(joining.Microseconds())/float64(b.N)/1000, "join-ms")
				b.ReportMetric(float64(syncing.Microseconds())/float64(b.N)/1000, "sync-ms")
			})
		}
	}
}
