package server

import (
	"foyer/internal/guest"
	"foyer/internal/metrics"
)

// watchGuests wires the guest service to the metrics: the live-guests
// gauge reads the database at each scrape; expiry runs count expired
// guests.
func watchGuests(m *metrics.Metrics, g *guest.Service) {
	m.WatchLiveGuests(g.CountLive)
	g.OnExpired(func(n int) { m.GuestsExpired.Add(float64(n)) })
}
