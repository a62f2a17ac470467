package integration

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"foyer/internal/testharness"
)

// BenchmarkTrivialRequest is the server's own cost of the cheapest
// request, GET /_matrix/client/versions, through the whole handler
// (client address, request ID, CORS, routing, access, metrics, log, JSON),
// without the network:
//
//	go test ./tests/integration -run '^$' -bench TrivialRequest -count 5 -benchmem
func BenchmarkTrivialRequest(b *testing.B) {
	hs := testharness.Start(b, testharness.Config(b, "sqlite"))
	h := hs.Server.API
	req := httptest.NewRequest("GET", "/_matrix/client/versions", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkTrivialRequestHTTP is the same over loopback HTTP with
// parallel clients: the figure to compare with the load generator's
// (bench/loadgen -scenario versions).
//
//	go test ./tests/integration -run '^$' -bench TrivialRequestHTTP -count 5
func BenchmarkTrivialRequestHTTP(b *testing.B) {
	hs := testharness.Start(b, testharness.Config(b, "sqlite"))
	srv := httptest.NewServer(hs.Server.API)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := srv.URL + "/_matrix/client/versions"
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Error(res.Status)
				return
			}
		}
	})
}
