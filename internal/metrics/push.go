package metrics

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxGatewayLabels bounds the gateway label's values: pusher URLs are
// chosen by users, and each new host would otherwise be a new series.
// Hosts beyond it are counted as "other".
const maxGatewayLabels = 100

// PushMetrics count deliveries to push gateways, by gateway host.
type PushMetrics struct {
	sent, failed, retried *prometheus.CounterVec

	mu    sync.Mutex
	hosts map[string]bool
}

func newPushMetrics() *PushMetrics {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"gateway"})
	}
	return &PushMetrics{
		sent:    vec("foyer_push_notifications_sent_total", "Notifications and badge updates push gateways accepted, by gateway host."),
		failed:  vec("foyer_push_notifications_failed_total", "Notifications dropped: refused by the gateway (4xx) or given up on after push.give_up_after of failures, by gateway host."),
		retried: vec("foyer_push_notifications_retried_total", "Gateway requests that failed (network error, timeout, 5xx, 429) and will be retried, by gateway host."),
		hosts:   map[string]bool{},
	}
}

func (p *PushMetrics) label(gateway string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hosts[gateway] {
		return gateway
	}
	if len(p.hosts) >= maxGatewayLabels {
		return "other"
	}
	p.hosts[gateway] = true
	return gateway
}

// Sent counts a delivery the gateway accepted.
func (p *PushMetrics) Sent(gateway string) { p.sent.WithLabelValues(p.label(gateway)).Inc() }

// Failed counts a notification dropped.
func (p *PushMetrics) Failed(gateway string) { p.failed.WithLabelValues(p.label(gateway)).Inc() }

// Retried counts a failed request that will be retried.
func (p *PushMetrics) Retried(gateway string) { p.retried.WithLabelValues(p.label(gateway)).Inc() }

// PushQueue is the queued entries of the pushers with one URL.
type PushQueue struct {
	URL    string
	Length int64
}

// pushQueueCollector reads the queue lengths at each scrape: the database
// is the truth, and it survives restarts.
type pushQueueCollector struct {
	desc   *prometheus.Desc
	read   func(ctx context.Context) ([]PushQueue, error)
	labels func(string) string
}

func (c *pushQueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *pushQueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	queues, err := c.read(ctx)
	if err != nil {
		return
	}
	byGateway := map[string]int64{}
	for _, q := range queues {
		host := "invalid"
		if u, err := url.Parse(q.URL); err == nil && u.Host != "" {
			host = strings.ToLower(u.Host)
		}
		byGateway[c.labels(host)] += q.Length
	}
	for g, n := range byGateway {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), g)
	}
}

// WatchPush registers the push counters and foyer_push_queue_length, read
// from queues at each scrape. Call it once.
func (m *Metrics) WatchPush(queues func(ctx context.Context) ([]PushQueue, error)) *PushMetrics {
	p := newPushMetrics()
	m.Registry.MustRegister(p.sent, p.failed, p.retried, &pushQueueCollector{
		desc: prometheus.NewDesc("foyer_push_queue_length",
			"Notifications and badge updates waiting to be sent, by gateway host.", []string{"gateway"}, nil),
		read:   queues,
		labels: p.label,
	})
	return p
}
