package integration

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// benchClient is the HTTP client the benchmarks share: enough idle
// connections for every parallel client, no compression to measure.
func benchClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
}

// benchRequestsPerSecond sends the requests newRequest makes from
// perCPU clients per CPU until the benchmark ends, fails on any answer
// but 200, and reports the rate in unit.
func benchRequestsPerSecond(b *testing.B, client *http.Client, perCPU int, unit string, newRequest func() *http.Request) {
	b.SetParallelism(perCPU)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := newRequest()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
				return
			}
		}
	})
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}
