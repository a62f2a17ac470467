package integration

import (
	"bytes"
	"net/http"
	"testing"

	"foyer/internal/testharness"
)

// BenchmarkGuestRegistration measures guest registrations per second over
// HTTP against an in-process server, per backend, with concurrent clients.
func BenchmarkGuestRegistration(b *testing.B) {
	for _, backend := range testharness.Backends {
		b.Run(backend, func(b *testing.B) {
			hs := testharness.Start(b, testharness.Config(b, backend))
			client := benchClient()
			defer client.CloseIdleConnections()
			url := hs.URL + "/_matrix/client/v3/register?kind=guest"
			body := []byte(`{"initial_device_display_name":"bench"}`)
			// Four clients per CPU: registrations wait on the database
			// more than on the CPU.
			benchRequestsPerSecond(b, client, 4, "regs/s", func() *http.Request {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				return req
			})
		})
	}
}
