package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"foyer/internal/testharness"
)

// BenchmarkIncrementalSyncWithFilterID measures the incremental syncs a
// busy client makes, the way Element makes them (an uploaded filter by
// ID, timeout=0) for a user in 20 rooms: with nothing new, and with one
// new message in one of the rooms, as when a long-poll is woken.
func BenchmarkIncrementalSyncWithFilterID(b *testing.B) {
	for _, backend := range testharness.Backends {
		for _, newMessage := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/new_message=%v", backend, newMessage), func(b *testing.B) {
				benchIncrementalSync(b, backend, newMessage)
			})
		}
	}
}

func benchIncrementalSync(b *testing.B, backend string, newMessage bool) {
	hs := testharness.Start(b, testharness.Config(b, backend))
	alice := hs.RegisterUser(b, "alice")
	var rooms []string
	for i := 0; i < 20; i++ {
		room := createRoom(b, hs, alice.Token, nil)
		sendMessage(b, hs, alice.Token, room, fmt.Sprint("message ", i))
		rooms = append(rooms, room)
	}
	f := hs.Do(b, "POST", cs+"/user/"+url.PathEscape(alice.UserID)+"/filter", alice.Token, map[string]any{
		"room":     map[string]any{"timeline": map[string]any{"limit": 20}, "state": map[string]any{"lazy_load_members": true}},
		"presence": map[string]any{"not_types": []string{"*"}},
	})
	if f.Status != 200 {
		b.Fatalf("filter: %s", f)
	}
	query := "?timeout=0&filter=" + f.Str("filter_id")
	since := hs.Do(b, "GET", cs+"/sync"+query, alice.Token, nil).Str("next_batch")
	if newMessage {
		sendMessage(b, hs, alice.Token, rooms[7], "new")
	}
	client := benchClient()
	defer client.CloseIdleConnections()
	benchRequestsPerSecond(b, client, 4, "syncs/s", func() *http.Request {
		req, _ := http.NewRequest("GET", hs.URL+cs+"/sync"+query+"&since="+url.QueryEscape(since), nil)
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		return req
	})
}
