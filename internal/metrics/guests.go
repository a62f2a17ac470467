package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Guests registered are foyer_registrations_total{kind="guest"}.

func newGuestCounters() (upgraded, expired prometheus.Counter) {
	upgraded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "foyer_guests_upgraded_total",
		Help: "Guests upgraded to full accounts or named guests (POST /register with guest_access_token), keeping their user ID or moving to a new username (rename upgrade).",
	})
	expired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "foyer_guests_expired_total",
		Help: "Guests deactivated by expiry after guest_access.expire_after without activity.",
	})
	return upgraded, expired
}

// WatchLiveGuests adds foyer_guests_live, read from count at each scrape
// (the database is the truth: operator subcommands and other processes
// change it too). Call it once.
func (m *Metrics) WatchLiveGuests(count func(ctx context.Context) (int64, error)) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "foyer_guests_live",
		Help: "Guest accounts that exist now (kind guest, not deactivated).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}
