package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/outbound/outboundtest"
	"foyer/internal/testharness"
)

// pushBenchMembers is the size of the benchmark's room: every member but
// the sender has an HTTP pusher.
const pushBenchMembers = 1000

// BenchmarkPushNotifications measures notifications delivered per second
// to a push gateway on loopback (HTTPS, answering at once) from messages
// sent into a room of 1,000 members, each with an HTTP pusher: from the
// first send to the last notification the gateway accepts, so it counts
// rule evaluation, the queue writes and the deliveries. Each of b.N
// messages notifies 999 members.
//
//	go test ./tests/integration -run '^$' -bench BenchmarkPushNotifications -benchtime 20x -count 3
func BenchmarkPushNotifications(b *testing.B) {
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			ca := outboundtest.NewCA(b)
			var received atomic.Int64
			var mu sync.Mutex
			reached := sync.NewCond(&mu)
			gw := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"rejected": []}`)
				received.Add(1)
				mu.Lock()
				reached.Broadcast()
				mu.Unlock()
			}))
			gw.TLS = ca.ServerTLSConfig(b, "127.0.0.1")
			gw.StartTLS()
			defer gw.Close()
			url := gw.URL + "/_matrix/push/v1/notify"

			hs := testharness.Start(b, pushConfig(b, backend, ca))
			alice := hs.RegisterUser(b, "alice")
			room := createRoom(b, hs, alice.Token, map[string]any{"preset": "public_chat"})
			var wg sync.WaitGroup
			work := make(chan int)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						u := hs.RegisterUser(b, fmt.Sprintf("member%d", i))
						mustJoin(b, hs, u.Token, room)
						setHTTPPusher(b, hs, u, fmt.Sprintf("key%d", i), map[string]any{"url": url})
					}
				}()
			}
			for i := 1; i < pushBenchMembers; i++ {
				work <- i
			}
			close(work)
			wg.Wait()
			// A first message, once all its notifications are in, shows the
			// joins' events have been gone through; count from zero then.
			sendMessage(b, hs, alice.Token, room, "warming up")
			waitFor := func(want int64, limit time.Duration) bool {
				timeout := time.AfterFunc(limit, func() {
					mu.Lock()
					reached.Broadcast()
					mu.Unlock()
				})
				defer timeout.Stop()
				start := time.Now()
				mu.Lock()
				defer mu.Unlock()
				for received.Load() < want && time.Since(start) < limit {
					reached.Wait()
				}
				return received.Load() >= want
			}
			if !waitFor(pushBenchMembers-1, 5*time.Minute) {
				b.Fatalf("the warm-up message reached %d of %d pushers", received.Load(), pushBenchMembers-1)
			}
			received.Store(0)

			want := int64(b.N * (pushBenchMembers - 1))
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				sendMessage(b, hs, alice.Token, room, "hello everyone")
			}
			waitFor(want, 5*time.Minute)
			elapsed := time.Since(start)
			b.StopTimer()
			if got := received.Load(); got < want {
				b.Fatalf("the gateway got %d notifications in %s, want %d", got, elapsed, want)
			}
			b.ReportMetric(float64(want)/elapsed.Seconds(), "notifications/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
