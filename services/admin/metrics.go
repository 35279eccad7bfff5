package admin

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the admin API. Labels are routes and actions, never a
// ClientID or a token name.
type metrics struct {
	requests *prometheus.CounterVec
	actions  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_admin_requests_total", Help: "Admin API requests by route pattern and status code.",
		}, []string{"route", "code"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_admin_actions_total", Help: "Administrative ops appended, by action.",
		}, []string{"action"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.actions} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register admin metrics: %w", err)
		}
	}
	return m, nil
}
