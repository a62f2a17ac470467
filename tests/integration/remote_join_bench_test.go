package integration

import (
	"context"
	"fmt"
	"testing"

	"foyer/internal/rooms"
	"foyer/internal/testharness"
)

// BenchmarkRemoteJoin measures a user's join of a room of another server
// whose state has 1,000 members, over HTTP between two servers on
// loopback (make_join, send_join, the answer's 2,000-odd events checked
// and stored). Each iteration joins a new room.
func BenchmarkRemoteJoin(b *testing.B) {
	const members = 1000
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			servers := testharness.StartFederation(b, backend, 2, nil)
			home, away := servers[0], servers[1]
			alice := home.RegisterUser(b, "alice")
			bob := away.RegisterUser(b, "bob")
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				room := createRoom(b, home, alice.Token, map[string]any{"preset": "public_chat"})
				for m := 1; m < members; m++ {
					user := fmt.Sprintf("@m%d-%d:%s", i, m, home.Config.ServerName)
					if err := home.Server.Services.Rooms.JoinVia(ctx, room, user, nil, rooms.JoinHints{}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if r := joinVia(b, away, bob.Token, room, home.Config.ServerName); r.Status != 200 {
					b.Fatalf("remote join: %s", r)
				}
			}
		})
	}
}
