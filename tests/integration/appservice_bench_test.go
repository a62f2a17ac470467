package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"foyer/internal/config"
	"foyer/internal/testharness"
)

// BenchmarkAppServiceTransactions measures delivery to a local
// application service: 8 clients per CPU send messages over HTTP into a
// room where one of the service's users is joined, and the clock stops
// when the service has received every one. It reports the events and the
// transactions delivered per second (messages sent while a transaction
// is in flight share the next one).
func BenchmarkAppServiceTransactions(b *testing.B) {
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			bench := startBenchAppService(b, backend, nil)
			hs, alice, room := bench.hs, bench.alice, bench.room
			client := benchClient()
			defer client.CloseIdleConnections()
			msg := []byte(`{"msgtype":"m.text","body":"benchmark message"}`)
			var seq atomic.Int64
			startEvents, startTxns := bench.events.Load(), bench.txns.Load()
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					req, _ := http.NewRequest("PUT", hs.URL+roomPath(room, fmt.Sprintf("/send/m.room.message/b%d", n)), bytes.NewReader(msg))
					req.Header.Set("Authorization", "Bearer "+alice.Token)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("send: %s", resp.Status)
						return
					}
				}
			})
			bench.report(b, start, startEvents, startTxns, 60*time.Second)
		})
	}
}

// BenchmarkAppServiceBacklog measures the sender alone: b.N messages wait
// while the service is down, then the clock runs from its return until it
// has them all. max_events=1 makes every event a transaction of its own
// (the raw transaction rate); 100 is the default batching.
func BenchmarkAppServiceBacklog(b *testing.B) {
	for _, backend := range testharness.Backends {
		for _, maxEvents := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/max_events=%d", backend, maxEvents), func(b *testing.B) {
				var down atomic.Bool
				bench := startBenchAppService(b, backend, func(cfg *config.Config) {
					cfg.AppServiceDelivery.MaxEvents = maxEvents
					cfg.AppServiceDelivery.MaxBackoff = 20 * time.Millisecond
				}, &down)
				down.Store(true)
				time.Sleep(50 * time.Millisecond) // let a pending transaction settle
				startEvents, startTxns := bench.events.Load(), bench.txns.Load()
				for i := 0; i < b.N; i++ {
					sendMessage(b, bench.hs, bench.alice.Token, bench.room, "backlog")
				}
				b.ResetTimer()
				start := time.Now()
				down.Store(false)
				bench.report(b, start, startEvents, startTxns, 120*time.Second)
			})
		}
	}
}

// benchAppService is a Foyer with one application service, a local
// server that counts the events and (distinct) transactions it takes,
// and a room where alice sends and one of the service's users is joined.
type benchAppService struct {
	hs           *testharness.Homeserver
	alice        testharness.Account
	room         string
	events, txns atomic.Int64
}

// startBenchAppService starts it, with edit applied to the config; the
// service answers 503 while down (when given) is true. It returns once
// the room's creation and the join have been delivered.
func startBenchAppService(b *testing.B, backend string, edit func(*config.Config), down ...*atomic.Bool) *benchAppService {
	bench := &benchAppService{}
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(down) > 0 && down[0].Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var body struct {
			Events []json.RawMessage `json:"events"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		if !seen[r.URL.Path] {
			seen[r.URL.Path] = true
			bench.txns.Add(1)
			bench.events.Add(int64(len(body.Events)))
		}
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	}))
	b.Cleanup(srv.Close)
	reg := fmt.Sprintf("id: bench\nurl: %s\nas_token: bench-as\nhs_token: bench-hs\nsender_localpart: benchbot\n"+
		"namespaces:\n  users:\n  - exclusive: true\n    regex: '@bench_.*'\n", srv.URL)
	path := filepath.Join(b.TempDir(), "bench.yaml")
	if err := os.WriteFile(path, []byte(reg), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := appServiceConfig(b, backend, path)
	if edit != nil {
		edit(&cfg)
	}
	bench.hs = testharness.Start(b, cfg)
	bench.alice = bench.hs.RegisterUser(b, "alice")
	bench.room = createRoom(b, bench.hs, bench.alice.Token, map[string]any{"preset": "public_chat"})
	bench.hs.Do(b, "POST", "/_matrix/client/v3/register", "bench-as", map[string]any{"type": "m.login.application_service", "username": "bench_bob"})
	if r := bench.hs.Do(b, "POST", "/_matrix/client/v3/join/"+testharness.PathEscape(bench.room)+"?user_id="+testharness.PathEscape("@bench_bob:"+cfg.ServerName),
		"bench-as", map[string]any{}); r.Status != 200 {
		b.Fatalf("join: %s", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for bench.events.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return bench
}

// report waits (at most limit) until the service has the b.N events sent
// since start and reports events and transactions a second.
func (bench *benchAppService) report(b *testing.B, start time.Time, startEvents, startTxns int64, limit time.Duration) {
	want := startEvents + int64(b.N)
	deadline := time.Now().Add(limit)
	for bench.events.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("the service received %d of %d events", bench.events.Load()-startEvents, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(bench.events.Load()-startEvents)/took, "events/s")
	b.ReportMetric(float64(bench.txns.Load()-startTxns)/took, "txns/s")
}
