package frontend

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the frontend's Prometheus collectors. They exist even without
// a registry so the code never checks for nil.
type metrics struct {
	connections    prometheus.Gauge
	connects       *prometheus.CounterVec // by result (accepted, or the CONNACK code)
	disconnects    *prometheus.CounterVec // by reason
	messagesIn     *prometheus.CounterVec // by qos
	messagesOut    *prometheus.CounterVec // by qos
	drops          *prometheus.CounterVec // by reason
	slowConsumers  prometheus.Counter
	takeovers      prometheus.Counter
	appendLatency  prometheus.Histogram
	appendFailures prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_frontend_connections", Help: "Open MQTT connections.",
		}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_connects_total", Help: "CONNECTs by result.",
		}, []string{"result"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_disconnects_total", Help: "Ended connections by reason.",
		}, []string{"reason"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_messages_in_total", Help: "PUBLISHes received from clients, by QoS.",
		}, []string{"qos"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_messages_out_total", Help: "PUBLISHes written to clients, by QoS.",
		}, []string{"qos"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_drops_total", Help: "Messages not delivered to a session, by reason.",
		}, []string{"reason"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_slow_consumers_total", Help: "Connections closed because they could not keep up.",
		}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_takeovers_total", Help: "Connections closed by a newer CONNECT with the same ClientID.",
		}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tidemark_frontend_append_seconds",
			Help:    "Latency of Kafka appends (acks=all) of client PUBLISHes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		appendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_append_failures_total", Help: "Failed Kafka append attempts (retried).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.connects, m.disconnects, m.messagesIn, m.messagesOut,
			m.drops, m.slowConsumers, m.takeovers, m.appendLatency, m.appendFailures)
	}
	return m
}

var qosLabel = [3]string{"0", "1", "2"}
