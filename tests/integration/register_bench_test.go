package integration

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"foyer/internal/testharness"
)

// BenchmarkGuestRegistration measures guest registrations per second over
// HTTP against an in-process server, per backend, with concurrent clients.
func BenchmarkGuestRegistration(b *testing.B) {
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			hs := testharness.Start(b, testharness.Config(b, backend))
			client := &http.Client{
				Timeout:   30 * time.Second,
				Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
			}
			defer client.CloseIdleConnections()
			url := hs.URL + "/_matrix/client/v3/register?kind=guest"
			body := []byte(`{"initial_device_display_name":"bench"}`)
			// Four clients per CPU: registrations wait on the database
			// more than on the CPU.
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("guest registration: %s", resp.Status)
						return
					}
				}
			})
			b.StopTimer()
			if s := b.Elapsed().Seconds(); s > 0 {
				b.ReportMetric(float64(b.N)/s, "regs/s")
			}
		})
	}
}
