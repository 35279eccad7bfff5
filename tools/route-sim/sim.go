package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// The modes. The publish modes have no node at all: they measure the
// publisher's share of broadcast and routed, so that the rest of a mode's
// CPU can be put on the nodes.
const (
	modeBroadcast     = "broadcast"
	modeRouted        = "routed"
	modePublish       = "publish"
	modePublishRouted = "publish-routed"
)

// config is one run: one mode at one cluster size.
type config struct {
	cluster    kafkalog.Cluster
	runID      string
	mode       string
	nodes      int
	topics     int
	interest   int
	rate       float64
	duration   time.Duration
	warmup     time.Duration
	drain      time.Duration
	size       int
	partitions int
	publishers int
	maxBatch   int
	kafkaPID   int
	log        *slog.Logger
}

// result is what one run measured. The window is the publishing time after
// the warm-up: rates and CPU are over it, while the fetched totals and the
// deliveries cover the whole run, drained.
type result struct {
	// Mode to RateAsked are the run as configured (Interest capped at
	// Nodes).
	Mode      string  `json:"mode"`
	Nodes     int     `json:"nodes"`
	Topics    int     `json:"topics"`
	Interest  int     `json:"interest"`
	RateAsked float64 `json:"rate_asked"`
	Rate      float64 `json:"rate"`      // messages appended per second in the window
	Window    float64 `json:"window_s"`  // seconds
	Published int64   `json:"published"` // messages appended in the whole run
	Copies    int64   `json:"copies"`    // delivery records appended (routed modes)
	// Fetched and FetchedBytes are per second in the window; the bytes
	// are each record's key, value and headers, without Kafka's framing.
	Fetched      float64 `json:"fetched_per_s"`
	FetchedBytes float64 `json:"fetched_bytes_per_s"`
	// FetchedTotal is the records all nodes fetched in the whole run.
	FetchedTotal int64 `json:"fetched_total"`
	// CPU is this process's CPU time per second in the window (cores).
	CPU float64 `json:"cpu_cores"`
	// KafkaCPU is the broker's, or -1 when its process was not found.
	KafkaCPU   float64  `json:"kafka_cpu_cores"`
	Deliveries *verdict `json:"deliveries,omitempty"` // nil for the publish modes
	// Behind is how long the nodes took, after the last append, to have
	// every record: more than a few fetch waits means they did not keep up
	// with the rate.
	Behind float64 `json:"behind_s"`
}

// routedMode reports whether the publisher appends delivery copies.
func routedMode(mode string) bool { return mode == modeRouted || mode == modePublishRouted }

// hasNodes reports whether the mode runs the simulated frontends.
func hasNodes(mode string) bool { return mode == modeBroadcast || mode == modeRouted }

// node is one simulated frontend: the sessions' subscriptions in the same
// index the frontend's router keeps, and what was delivered to them.
type node struct {
	idx     *topic.Index[int, int] // session (one per topic) -> topic number
	fetched atomic.Int64
	bytes   atomic.Int64

	mu        sync.Mutex // the router's lock: the follower calls handle per partition
	check     *checker
	unmatched int64 // records no session wanted
}

// handle is the follower's handler: it matches each record against the
// node's index under one lock, as the frontend's router does.
func (n *node) handle(r *kafkalog.Record) {
	n.fetched.Add(1)
	n.bytes.Add(recordBytes(r))
	n.mu.Lock()
	defer n.mu.Unlock()
	matched := false
	if len(r.Value) >= 8 {
		seq := binary.BigEndian.Uint64(r.Value)
		n.idx.Match(string(r.Key), func(_ int, _ string, t int) {
			matched = true
			n.check.add(t, seq)
		})
	}
	if !matched {
		n.unmatched++
	}
}

// delivered is the number of distinct records the node's sessions got.
func (n *node) delivered() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.check.distinct()
}

// recordBytes is what a node reads of a record besides Kafka's framing.
func recordBytes(r *kafkalog.Record) int64 {
	b := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		b += len(h.Key) + len(h.Value)
	}
	return int64(b)
}

// topicNames are the Kafka topics of one run, fresh so no run reads
// another's records.
type topicNames struct {
	messages string
	deliver  []string // per node; empty in broadcast
}

func names(cfg config) topicNames {
	base := fmt.Sprintf("route-sim.%s.%s.n%d", cfg.runID, cfg.mode, cfg.nodes)
	tn := topicNames{messages: base + ".messages"}
	if routedMode(cfg.mode) {
		for i := range cfg.nodes {
			tn.deliver = append(tn.deliver, fmt.Sprintf("%s.deliver.%d", base, i))
		}
	}
	return tn
}

// specs are the topics to create: the messages topic partitioned like
// mqtt.messages, and one single-partition delivery topic per node, so a
// node's follower fetches its own records and nobody else's.
func (tn topicNames) specs(partitions int) []kafkalog.TopicSpec {
	specs := []kafkalog.TopicSpec{{Name: tn.messages, Partitions: partitions, Retention: time.Hour}}
	for _, d := range tn.deliver {
		specs = append(specs, kafkalog.TopicSpec{Name: d, Partitions: 1, Retention: time.Hour})
	}
	return specs
}

// snapshot is the counters at one end of the window.
type snapshot struct {
	at        time.Time
	cpu       time.Duration
	kafka     time.Duration
	published int64
	fetched   int64
	bytes     int64
}

// runMode runs one mode: nodes following their source, the publisher for
// the configured duration, the drain, and the delivery check.
func runMode(ctx context.Context, cfg config) (*result, error) {
	tn := names(cfg)
	if err := kafkalog.EnsureTopics(ctx, cfg.cluster, tn.specs(cfg.partitions)...); err != nil {
		return nil, err
	}
	subs := plan(cfg.nodes, cfg.topics, cfg.interest)
	filters := make([][]string, cfg.nodes)
	for n, ts := range subs {
		for _, t := range ts {
			filters[n] = append(filters[n], topicName(t))
		}
	}

	var nodes []*node
	fctx, stopNodes := context.WithCancel(ctx)
	var followers sync.WaitGroup
	defer func() {
		stopNodes()
		followers.Wait()
	}()
	if hasNodes(cfg.mode) {
		var ready []<-chan struct{}
		for i, ts := range subs {
			n := &node{idx: topic.NewIndex[int, int](), check: newChecker()}
			for _, t := range ts {
				n.idx.Subscribe(t, topicName(t), t)
			}
			src := tn.messages
			if routedMode(cfg.mode) {
				src = tn.deliver[i]
			}
			f := kafkalog.NewFollower(cfg.cluster, kafkalog.FollowerOptions{
				Topic: src, Default: kafkalog.Earliest, Logger: cfg.log,
			}, n.handle)
			followers.Go(func() { _ = f.Run(fctx) })
			ready = append(ready, f.Ready())
			nodes = append(nodes, n)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for _, r := range ready {
			select {
			case <-r:
			case <-rctx.Done():
				return nil, fmt.Errorf("%s: followers not ready: %w", cfg.mode, rctx.Err())
			}
		}
	}

	p := &publisher{cfg: cfg, tn: tn, counts: make([]int64, cfg.topics)}
	if routedMode(cfg.mode) {
		p.routes = newRoutes(filters)
	}
	snap := func() snapshot {
		s := snapshot{at: time.Now(), cpu: processCPU(), published: p.published.Load()}
		if cfg.kafkaPID > 0 {
			s.kafka, _ = pidCPU(cfg.kafkaPID)
		}
		for _, n := range nodes {
			s.fetched += n.fetched.Load()
			s.bytes += n.bytes.Load()
		}
		return s
	}

	pctx, cancelPub := context.WithCancel(ctx)
	defer cancelPub()
	pubErr := make(chan error, 1)
	go func() { pubErr <- p.run(pctx) }()
	var first snapshot
	select {
	case <-time.After(cfg.warmup):
		first = snap()
	case err := <-pubErr:
		return nil, fmt.Errorf("%s: publisher ended in the warm-up: %w", cfg.mode, errOr(err))
	}
	if err := <-pubErr; err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.mode, err)
	}
	last := snap()

	win := last.at.Sub(first.at).Seconds()
	res := &result{
		Mode: cfg.mode, Nodes: cfg.nodes, Topics: cfg.topics, Interest: min(max(cfg.interest, 1), cfg.nodes),
		RateAsked: cfg.rate, Window: win,
		Rate:         float64(last.published-first.published) / win,
		Published:    last.published,
		Copies:       p.copies.Load(),
		Fetched:      float64(last.fetched-first.fetched) / win,
		FetchedBytes: float64(last.bytes-first.bytes) / win,
		CPU:          (last.cpu - first.cpu).Seconds() / win,
		KafkaCPU:     -1,
	}
	if cfg.kafkaPID > 0 && last.kafka > 0 {
		res.KafkaCPU = (last.kafka - first.kafka).Seconds() / win
	}
	if !hasNodes(cfg.mode) {
		return res, nil
	}

	// Every node's expected records: what was appended on its topics.
	expected := make([]map[int]int64, len(nodes))
	want := make([]int64, len(nodes))
	for i, ts := range subs {
		expected[i] = map[int]int64{}
		for _, t := range ts {
			expected[i][t] = p.counts[t]
			want[i] += p.counts[t]
		}
	}
	drainUntil := time.Now().Add(cfg.drain)
	for time.Now().Before(drainUntil) && ctx.Err() == nil {
		done := true
		for i, n := range nodes {
			if n.delivered() < want[i] {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Behind = time.Since(last.at).Seconds()
	// A little longer than one fetch's long poll, so a duplicate right
	// behind the last expected record is still seen.
	time.Sleep(150 * time.Millisecond)
	stopNodes()
	followers.Wait()

	var v verdict
	for i, n := range nodes {
		nv := n.check.verify(expected[i])
		if routedMode(cfg.mode) {
			// A delivery partition holds only what the node asked for.
			nv.Unexpected += n.unmatched
		}
		v = v.add(nv)
		res.FetchedTotal += n.fetched.Load()
	}
	res.Deliveries = &v
	return res, nil
}

func errOr(err error) error {
	if err == nil {
		return errors.New("no error, too short a run")
	}
	return err
}
