package sessiond

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// metrics are the service's Prometheus collectors.
type metrics struct {
	ops        *prometheus.CounterVec // by op kind and result
	events     *prometheus.CounterVec // by event type
	drops      *prometheus.CounterVec // by drop reason
	queued     prometheus.Counter
	passed     prometheus.Counter   // messages records the queue follower did not read
	queueLen   prometheus.Gauge     // refs in the offline queues this instance fills
	offline    prometheus.Gauge     // sessions the queue follower evaluates for
	sessions   *prometheus.GaugeVec // owned sessions by state
	partitions prometheus.Gauge
	lag        *prometheus.GaugeVec // seconds behind the last handled op, by partition
	lagRecords *prometheus.GaugeVec // records not yet handled, by partition
	runs       prometheus.Histogram // ops per applied run
	runTime    prometheus.Histogram // seconds to apply a run
	// liveness and wills
	nodeDown      *prometheus.CounterVec // incarnations declared down, by reason
	nodeDownConns prometheus.Counter     // connections ended by node_down ops
	wills         *prometheus.CounterVec // wills published, by trigger
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sessiond_ops_total", Help: "Session ops processed, by kind and result (applied, stale, skipped).",
		}, []string{"kind", "result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sessiond_events_total", Help: "Lifecycle events appended, by type.",
		}, []string{"type"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sessiond_dropped_messages_total", Help: "Messages dropped from offline queues, by reason.",
		}, []string{"reason"}),
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_sessiond_queued_messages_total", Help: "Message refs appended to offline queues.",
		}),
		passed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_sessiond_messages_passed_total", Help: "Records of the messages topic the offline queue follower passed over unread, as no offline session of this instance subscribed to anything.",
		}),
		queueLen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_queued_refs", Help: "Message refs held in the offline queues of the sessions this instance owns.",
		}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_sessions", Help: "Sessions owned by this instance, by state (online, offline).",
		}, []string{"state"}),
		runs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidemark_sessiond_run_ops", Help: "Ops applied per run (one Append, one Redis transaction).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		runTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidemark_sessiond_run_seconds", Help: "Time to apply a run of ops (views read, events appended, Redis transaction); a partition's next run waits for it.",
			Buckets: []float64{0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024},
		}),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_consumer_lag_records", Help: "Ops in the sessions topic not yet handled, by partition.",
		}, []string{"partition"}),
		offline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_offline_sessions", Help: "Offline persistent sessions this instance queues for.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_partitions", Help: "Sessions partitions owned by this instance.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_consumer_lag_seconds", Help: "Age of the last op handled, by sessions partition.",
		}, []string{"partition"}),
		nodeDown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sessiond_node_down_total", Help: "Frontend incarnations this instance declared down, by reason (timeout, restarted, stopped).",
		}, []string{"reason"}),
		nodeDownConns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_sessiond_node_down_connections_total", Help: "Connections announced disconnected with reason node_down.",
		}),
		wills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_sessiond_wills_published_total", Help: "Will messages published, by trigger (connection_ended, delay_elapsed, session_ended).",
		}, []string{"trigger"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ops, m.events, m.drops, m.queued, m.passed, m.queueLen, m.offline, m.sessions, m.partitions, m.lag, m.lagRecords, m.runs, m.runTime,
		m.nodeDown, m.nodeDownConns, m.wills} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// observeQueue registers the lag of the offline-queue follower of the
// messages topic, computed at scrape time.
func observeQueue(reg prometheus.Registerer, q *queue) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tidemark_sessiond_queue_lag_records",
		Help: "Records of the messages topic the offline-queue follower has not handled yet.",
	}, func() float64 { return float64(q.fol.Lag()) }))
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}

// observeNodes registers the gauges of liveness and wills computed at
// scrape time: live frontends (from the tracker) and delayed wills.
func observeNodes(reg prometheus.Registerer, t *liveness.Tracker, pendingWills func() float64) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_frontends_alive",
			Help: "Frontend incarnations beating on the nodes topic within the node timeout.",
		}, func() float64 { return float64(t.Alive(liveness.RoleFrontend)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tidemark_sessiond_wills_pending",
			Help: "Delayed wills waiting out their Will Delay Interval in the partitions this instance owns.",
		}, pendingWills),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
