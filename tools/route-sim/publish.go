package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// refHeader carries, in a delivery copy, where the message lies in the
// messages topic (partition and offset, 4 + 8 bytes big-endian): what a
// node would fetch instead when the payload is too large to copy.
const refHeader = "route-ref"

// publisher stands for the frontends' publish pumps: it appends the
// messages, and in the routed modes the delivery copies, at the asked rate.
type publisher struct {
	cfg    config
	tn     topicNames
	routes *routes // nil: broadcast, no copies

	counts    []int64 // per topic, appended; each topic is one worker's
	published atomic.Int64
	copies    atomic.Int64
}

// run starts the workers and waits for them. Each worker owns the topics
// t with t%workers == its number, so one topic's records are appended by
// one goroutine, one acknowledged batch after the other: that is what
// gives per-topic order, in mqtt.messages as in a delivery partition.
func (p *publisher) run(ctx context.Context) error {
	app := kafkalog.NewAppender(p.cfg.cluster, kafkalog.AppenderOptions{Logger: p.cfg.log})
	defer app.Close()
	workers := min(max(p.cfg.publishers, 1), p.cfg.topics)
	total := int64(p.cfg.rate * p.cfg.duration.Seconds())
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		var mine []int
		for t := w; t < p.cfg.topics; t += workers {
			mine = append(mine, t)
		}
		// The worker's share of the count and of the rate, so the
		// workers together ask for exactly rate and total.
		limit := total/int64(workers) + b2i(int64(w) < total%int64(workers))
		rate := p.cfg.rate / float64(workers)
		wg.Go(func() { errs[w] = p.work(ctx, app, w, mine, limit, rate) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// work appends limit records at rate for at most the configured duration,
// round-robin over topics. When an append takes longer than the records'
// spacing, the next batch carries what fell due meanwhile (up to
// maxBatch), as the pumps' batches grow under load.
func (p *publisher) work(ctx context.Context, app *kafkalog.Appender, w int, topics []int, limit int64, rate float64) error {
	keys := make([][]byte, len(topics))
	for i, t := range topics {
		keys[i] = []byte(topicName(t))
	}
	headers := []kafkalog.Header{
		{Key: kafkalog.HeaderQoS, Value: []byte("1")},
		{Key: kafkalog.HeaderClient, Value: fmt.Appendf(nil, "route-sim-%d", w)},
	}
	start := time.Now()
	deadline := start.Add(p.cfg.duration)
	var sent int64
	var next int // round-robin position in topics
	var batch, copies []*kafkalog.Record
	var dst []int
	for sent < limit && ctx.Err() == nil {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		due := int64(now.Sub(start).Seconds() * rate)
		n := min(due-sent, int64(p.cfg.maxBatch), limit-sent)
		if n <= 0 {
			// Sleep until the next record is due, but at least a
			// millisecond: batches of a few records, not timer churn.
			wait := time.Duration(float64(sent+1)/rate*float64(time.Second)) - now.Sub(start)
			time.Sleep(max(wait, time.Millisecond))
			continue
		}
		batch = batch[:0]
		for range n {
			i := next
			next = (next + 1) % len(topics)
			t := topics[i]
			v := make([]byte, p.cfg.size)
			binary.BigEndian.PutUint64(v, uint64(p.counts[t]))
			p.counts[t]++
			batch = append(batch, &kafkalog.Record{Topic: p.tn.messages, Key: keys[i], Value: v, Headers: headers})
		}
		if err := app.Append(ctx, batch...); err != nil {
			// The counts now claim records that may be missing; the
			// run fails, so nothing checks deliveries against them.
			return fmt.Errorf("publisher %d: %w", w, err)
		}
		p.published.Add(n)
		sent += n
		if p.routes == nil {
			continue
		}
		// Routing: after the acknowledged append (the PUBLISH's
		// durability point), one copy per interested node, in the order
		// of the batch.
		copies = copies[:0]
		for _, r := range batch {
			dst = p.routes.nodes(string(r.Key), dst[:0])
			if len(dst) == 0 {
				continue
			}
			hs := make([]kafkalog.Header, len(r.Headers), len(r.Headers)+1)
			copy(hs, r.Headers)
			ref := make([]byte, 12)
			binary.BigEndian.PutUint32(ref, uint32(r.Partition))
			binary.BigEndian.PutUint64(ref[4:], uint64(r.Offset))
			hs = append(hs, kafkalog.Header{Key: refHeader, Value: ref})
			for _, d := range dst {
				copies = append(copies, &kafkalog.Record{Topic: p.tn.deliver[d], Key: r.Key, Value: r.Value, Headers: hs})
			}
		}
		if err := app.Append(ctx, copies...); err != nil {
			return fmt.Errorf("publisher %d: delivery copies: %w", w, err)
		}
		p.copies.Add(int64(len(copies)))
	}
	return nil
}
