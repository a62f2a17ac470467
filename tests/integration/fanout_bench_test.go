package integration

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"foyer/internal/testharness"
)

// BenchmarkFanout is one message reaching 100 guests long-polling its
// room, in process (the server's CPU per woken long-poll is the figure;
// bench/loadgen -scenario fanout measures delivery latency):
//
//	go test ./tests/integration -run '^$' -bench Fanout -benchtime 20x -count 3
func BenchmarkFanout(b *testing.B) {
	hs := testharness.StartBackend(b, "sqlite")
	owner := hs.RegisterUser(b, "owner")
	room := createRoom(b, hs, owner.Token, map[string]any{"preset": "public_chat",
		"initial_state": []map[string]any{{"type": "m.room.guest_access", "content": map[string]any{"guest_access": "can_join"}}}})
	const n = 100
	filter := url.QueryEscape(`{"room":{"timeline":{"limit":50},"state":{"lazy_load_members":true}},"presence":{"limit":0}}`)
	tokens := make([]string, n)
	since := make([]string, n)
	for i := range n {
		g := hs.RegisterGuest(b)
		tokens[i] = g.Token
		mustJoin(b, hs, g.Token, room)
		since[i] = hs.Do(b, "GET", cs+"/sync?filter="+filter, g.Token, nil).Str("next_batch")
	}
	run := 0
	for b.Loop() {
		body := fmt.Sprintf("fanout-%d", run)
		run++
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					r := hs.Do(b, "GET", cs+"/sync?timeout=30000&filter="+filter+"&since="+since[i], tokens[i], nil)
					since[i] = r.Str("next_batch")
					if strings.Contains(string(r.Raw), body) {
						return
					}
				}
			}()
		}
		sendMessage(b, hs, owner.Token, room, body)
		wg.Wait()
	}
}
