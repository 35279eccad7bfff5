// Package rawkafka measures the ceiling of the broker's log path: the raw
// kafka-go producer appending records of the same size with acks=all and as
// many records in flight as the MQTT publishers would have (producers x
// in-flight window). Each producer writes its window as one synchronous
// batch: one goroutine per record would measure the writer's per-call
// overhead rather than Kafka. The broker cannot acknowledge QoS 1 faster
// than this on the same Kafka.
package rawkafka

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"

	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/bench"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/latency"
)

// Config of one producer run.
type Config struct {
	Kafka      kafkalog.Cluster
	Topic      string // created when missing
	Partitions int    // for a created topic; default 8 like mqtt.messages
	Keys       int    // distinct record keys (MQTT topics in the broker); default 1
	Size       int
	Count      int
	Duration   time.Duration
	Producers  int // default 1
	Inflight   int // records per synchronous batch write of each producer; default 64
	Progress   io.Writer
}

// Run produces up to cfg.Count records for at most cfg.Duration.
func Run(ctx context.Context, cfg Config) (*bench.Result, error) {
	if len(cfg.Kafka.Brokers) == 0 {
		return nil, fmt.Errorf("%w: no kafka address", bench.ErrConfig)
	}
	for _, b := range cfg.Kafka.Brokers {
		if err := bench.CheckLoopback(b); err != nil {
			return nil, err
		}
	}
	if cfg.Count <= 0 || cfg.Count > bench.MaxCount || cfg.Duration <= 0 || cfg.Duration > bench.MaxDuration {
		return nil, fmt.Errorf("%w: count and duration must be set and within the caps", bench.ErrConfig)
	}
	cfg.Partitions = max(cfg.Partitions, 1)
	cfg.Keys = max(cfg.Keys, 1)
	cfg.Producers = max(cfg.Producers, 1)
	if cfg.Inflight <= 0 {
		cfg.Inflight = 64
	}
	if err := kafkalog.EnsureTopics(ctx, cfg.Kafka, kafkalog.TopicSpec{Name: cfg.Topic, Partitions: cfg.Partitions}); err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Kafka.Brokers...),
		Transport:    cfg.Kafka.Transport(),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    cfg.Producers * cfg.Inflight,
	}
	defer w.Close()

	// Warm up outside the measurement: the first writes to a new topic wait
	// for metadata and leader election.
	// Keys spread records like fan-in publishers over MQTT topics; they
	// are built once, outside the timed loop.
	keys := make([][]byte, cfg.Keys)
	warm := make([]kafka.Message, cfg.Keys)
	for k := range warm {
		keys[k] = fmt.Appendf(nil, "bench/%d", k)
		warm[k] = kafka.Message{Key: keys[k], Value: make([]byte, cfg.Size)}
	}
	if err := w.WriteMessages(ctx, warm...); err != nil {
		return nil, fmt.Errorf("warm up: %w", err)
	}

	res := &bench.Result{Scenario: "raw-kafka", QoS: 1, Size: cfg.Size, Publishers: cfg.Producers}
	var sent, acked, errCount atomic.Uint64
	var next atomic.Int64
	var mu sync.Mutex
	hist := latency.New()
	var samples []string

	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	stop := progress(cfg.Progress, start, &acked)
	var wg sync.WaitGroup
	for range cfg.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			value := make([]byte, cfg.Size)
			local := latency.New()
			defer func() { mu.Lock(); hist.Merge(local); mu.Unlock() }()
			batch := make([]kafka.Message, 0, cfg.Inflight)
			for wctx.Err() == nil {
				first := next.Add(int64(cfg.Inflight)) - int64(cfg.Inflight)
				n := min(int64(cfg.Inflight), int64(cfg.Count)-first)
				if n <= 0 {
					return
				}
				batch = batch[:0]
				for k := range n {
					batch = append(batch, kafka.Message{Key: keys[int(first+k)%len(keys)], Value: value})
				}
				t := time.Now()
				sent.Add(uint64(n))
				if err := w.WriteMessages(wctx, batch...); err != nil {
					if wctx.Err() != nil {
						return
					}
					errCount.Add(1)
					mu.Lock()
					if len(samples) < 5 {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
					continue
				}
				d := time.Since(t)
				for range n {
					local.Record(d)
				}
				acked.Add(uint64(n))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	res.Sent, res.Acked = sent.Load(), acked.Load()
	res.Unacked = res.Sent - res.Acked
	res.ThroughputIn = float64(res.Acked) / elapsed.Seconds()
	res.Elapsed = elapsed.Seconds()
	if hist.Count() > 0 {
		s := hist.Summary()
		res.AckLatency = &s
	}
	res.Errors, res.ErrorSamples = errCount.Load(), samples
	return res, nil
}

func progress(w io.Writer, start time.Time, acked *atomic.Uint64) (stop func()) {
	if w == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last uint64
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := acked.Load()
				fmt.Fprintf(w, "%6.1fs  acked %10d (%8d/s)\n", now.Sub(start).Seconds(), n, n-last)
				last = n
			}
		}
	}()
	return func() { close(done); <-finished }
}
