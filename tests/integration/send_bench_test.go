package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"foyer/internal/testharness"
)

// BenchmarkSendEvents measures messages sent per second over HTTP into one
// room and spread over 100 rooms, with the same number of concurrent
// clients, per backend. Concurrent sends share database commits (group
// commit): within a room, and on SQLite across rooms too.
func BenchmarkSendEvents(b *testing.B) {
	for _, backend := range testharness.Backends {
		for _, nRooms := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/rooms=%d", backend, nRooms), func(b *testing.B) {
				hs := testharness.Start(b, testharness.Config(b, backend))
				alice := hs.RegisterUser(b, "alice")
				roomIDs := make([]string, nRooms)
				for i := range roomIDs {
					roomIDs[i] = createRoom(b, hs, alice.Token, nil)
				}
				client := benchClient()
				defer client.CloseIdleConnections()
				body := []byte(`{"msgtype":"m.text","body":"benchmark message"}`)
				var seq atomic.Int64
				benchRequestsPerSecond(b, client, 8, "events/s", func() *http.Request {
					n := seq.Add(1)
					room := roomIDs[int(n)%nRooms]
					req, _ := http.NewRequest("PUT", hs.URL+roomPath(room, fmt.Sprintf("/send/m.room.message/b%d", n)), bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+alice.Token)
					return req
				})
			})
		}
	}
}
