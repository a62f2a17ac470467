// Package metrics holds Foyer's Prometheus collectors on a registry of its
// own, so /metrics shows exactly what the server measures.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors.
type Metrics struct {
	Registry      *prometheus.Registry
	Requests      *prometheus.CounterVec
	Latency       *prometheus.HistogramVec
	Registrations *prometheus.CounterVec
	// Guest lifecycle (guests.go): upgraded and expired guests; the live
	// gauge is added by WatchLiveGuests.
	GuestsUpgraded prometheus.Counter
	GuestsExpired  prometheus.Counter
	// Challenges are the human checks of registration (challenges.go).
	Challenges Challenges
}

// New registers the collectors, plus Go runtime and process metrics.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foyer_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		Registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_registrations_total",
			Help: "Accounts registered, by kind (user, guest, named_guest, upgrade).",
		}, []string{"kind"}),
	}
	m.GuestsUpgraded, m.GuestsExpired = newGuestCounters()
	m.Challenges = newChallenges()
	reg.MustRegister(m.Requests, m.Latency, m.Registrations, m.GuestsUpgraded, m.GuestsExpired,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(m.Challenges.collectors()...)
	// Zero series from the start, so dashboards see every kind.
	for _, kind := range []string{"user", "guest", "named_guest", "upgrade"} {
		m.Registrations.WithLabelValues(kind)
	}
	for _, stage := range []string{"m.login.recaptcha", "foyer.login.proof_of_work"} {
		m.Challenges.Issued.WithLabelValues(stage)
		m.Challenges.Solved.WithLabelValues(stage)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
