package frontend

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// metrics are the frontend's Prometheus collectors. They exist even without
// a registry so the code never checks for nil. Labels take a bounded set
// of values only (QoS, result and reason codes, log names): never a
// ClientID or a topic.
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
	dispatchDelay  prometheus.Histogram // record time (PUBLISH read) to dispatch here
	publishWait    prometheus.Histogram // PUBLISH read to the start of its append
	appendFailures prometheus.Counter
	bytesIn        prometheus.Counter
	bytesOut       prometheus.Counter
	declaredDown   prometheus.Counter // times the cluster declared this frontend dead

	followers atomic.Pointer[[]*kafkalog.Follower] // for the lag gauges, once running
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
		publishWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tidemark_frontend_publish_wait_seconds",
			Help:    "Time from a PUBLISH being read to the start of its append: the wait for the connection's appends before it (one at a time, in order).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		dispatchDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tidemark_frontend_dispatch_delay_seconds",
			Help:    "Time from a message's PUBLISH being read by its frontend to its record's dispatch by this frontend's router: the append, Kafka, and this frontend's fetch (clocks of different hosts skew it).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		appendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_append_failures_total", Help: "Failed Kafka append attempts (retried).",
		}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_payload_bytes_in_total", Help: "Payload bytes of the PUBLISHes received from clients.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_payload_bytes_out_total", Help: "Payload bytes of the PUBLISHes written to clients.",
		}),
		declaredDown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_frontend_declared_down_total",
			Help: "Times the cluster declared this frontend's incarnation dead (cut off or paused past the node timeout), so it closed that incarnation's connections.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.connects, m.disconnects, m.messagesIn, m.messagesOut,
			m.drops, m.slowConsumers, m.takeovers, m.appendLatency, m.publishWait, m.dispatchDelay, m.appendFailures, m.bytesIn, m.bytesOut, m.declaredDown)
	}
	return m
}

// observe registers the gauges computed from the server's state at scrape
// time, so the hot path keeps no extra counters for them.
func (m *metrics) observe(s *Server, reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	outboxes := func(n func(c *conn) int64) float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		var sum int64
		for c := range s.conns {
			sum += n(c)
		}
		return float64(sum)
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_frontend_sessions", Help: "Sessions connected to this frontend (CONNECT logged).",
		}, func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return float64(len(s.clients))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_frontend_queued_messages", Help: "Messages waiting in connections' outboxes to be written (live, replayed, resent).",
		}, func() float64 {
			return outboxes(func(c *conn) int64 { return c.queuedN.Load() })
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_frontend_inflight_messages", Help: "QoS 1 and 2 messages written to clients and not yet acknowledged.",
		}, func() float64 {
			return outboxes(func(c *conn) int64 { return c.unackedN.Load() })
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_frontend_retained_messages", Help: "Retained messages held by this frontend.",
		}, func() float64 {
			s.retained.mu.RLock()
			defer s.retained.mu.RUnlock()
			return float64(len(s.retained.msgs))
		}),
	)
	lag := func(i int) func() float64 {
		return func() float64 {
			fs := m.followers.Load()
			if fs == nil || i >= len(*fs) {
				return 0
			}
			return float64((*fs)[i].Lag())
		}
	}
	for i, log := range []string{"messages", "retained", "sessions"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tidemark_frontend_consumer_lag_records",
			Help:        "Records of a followed log not yet handled (high watermark of the last fetch minus position), by log.",
			ConstLabels: prometheus.Labels{"log": log},
		}, lag(i)))
	}
}

var qosLabel = [3]string{"0", "1", "2"}
