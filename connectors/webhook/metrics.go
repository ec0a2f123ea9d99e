package webhook

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of deliveries.
type metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// Delivery outcomes counted by gateway_webhook_deliveries_total.
var outcomes = []string{"delivered", "failed", "dead", "gone", "breaker_open", "rate_limited", "skipped", "malformed"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_webhook_deliveries_total",
			Help: "Webhook delivery runs by outcome: delivered (2xx), failed (will retry), dead (last attempt failed), gone (410, endpoint disabled), breaker_open and rate_limited (not attempted, rescheduled), skipped (endpoint deleted or disabled), malformed.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_webhook_delivery_duration_seconds",
			Help:    "Time from sending a webhook to its answer (or failure).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, o := range outcomes {
		m.attempts.WithLabelValues(o) // export zeros
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.attempts, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("webhook: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) { m.attempts.WithLabelValues(o).Inc() }
