package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/client"
)

// ErrNoSession means the broker did not resume the subscriber's session, so
// nothing was queued for it.
var ErrNoSession = errors.New("session not resumed (CONNACK session present = 0)")

// runReplay measures offline delivery: a persistent subscriber subscribes at
// QoS 1 and goes away, cfg.Count QoS 1 messages are published and
// acknowledged, then the subscriber comes back and the rate from its
// reconnect to the last queued message is reported.
func runReplay(ctx context.Context, cfg *Config, res *Result, errs *errorLog) error {
	cfg.Clean = false
	if cfg.QoS == 0 {
		cfg.QoS = 1
	}
	cfg.SubQoS = max(cfg.SubQoS, cfg.QoS)
	res.QoS, res.Size, res.Publishers, res.Subscribers = cfg.QoS, cfg.Size, cfg.Publishers, 1
	topic := cfg.topic(0)
	subID := cfg.clientID("r", 0)

	sub, err := client.Dial(ctx, cfg.clientOptions(pick(cfg.SubAddrs, 0), subID))
	if err != nil {
		return fmt.Errorf("replay subscriber: %w", err)
	}
	if err := sub.Subscribe(ctx, mqtt.Subscription{Filter: topic, QoS: cfg.SubQoS}); err != nil {
		sub.Close()
		return fmt.Errorf("replay subscriber: %w", err)
	}
	if err := sub.Close(); err != nil {
		return fmt.Errorf("replay subscriber: %w", err)
	}

	cfg.say("subscriber %s left; publishing %d QoS %d messages for it", subID, cfg.Count, cfg.QoS)
	// Publish phase: the pubsub machinery with nobody listening live.
	pubs, _ := cfg.publishers(func(int) string { return topic })
	pconns := connectAll(ctx, cfg, cfg.Publishers, func(i int) client.Options {
		o := cfg.clientOptions(pick(cfg.PubAddrs, i), cfg.clientID("p", i))
		o.Clean = true
		o.SessionExpiry = 0
		o.OnAck = pubs[i].onAck(i, errs)
		return o
	}, errs, nil)
	pubStart := time.Now()
	pctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	done := make(chan error, len(pubs))
	for i, p := range pubs {
		p.conn = pconns[i]
		if p.conn == nil {
			done <- nil
			continue
		}
		go func() { done <- p.run(pctx, cfg, uint32(i)) }()
	}
	for range pubs {
		if err := <-done; err != nil && pctx.Err() == nil {
			errs.add(fmt.Errorf("publisher: %w", err))
		}
	}
	cancel()
	waitDrain(ctx, cfg, func() (bool, uint64) {
		n := sumAcked(pubs)
		return n >= sumSent(pubs), n
	})
	pubElapsed := time.Since(pubStart)
	closeAll(cfg, pconns)
	res.Sent, res.Acked = sumSent(pubs), sumAcked(pubs)
	res.Unacked = res.Sent - res.Acked
	res.ThroughputIn = perSecond(res.Sent, pubElapsed)

	cfg.say("%d messages acknowledged; subscriber returns", sumAcked(pubs))
	// Replay phase.
	lat := newHistShards(1)
	r := &receiver{hist: lat.of(0)}
	start := time.Now()
	stop := progress(cfg, start, [2]string{"queued", "replayed"}, func() (uint64, uint64) { return res.Acked, r.received.Load() })
	o := cfg.clientOptions(pick(cfg.SubAddrs, 0), subID)
	o.OnPublish = r.onPublish
	sub, err = client.Dial(ctx, o)
	if err != nil {
		stop()
		return fmt.Errorf("replay subscriber reconnect: %w", err)
	}
	if !sub.SessionPresent() {
		errs.add(ErrNoSession)
	}
	rctx, rcancel := context.WithTimeout(ctx, cfg.Duration)
	cut := waitDrain(rctx, cfg, func() (bool, uint64) {
		n := r.received.Load()
		return n >= res.Acked, n
	})
	rcancel()
	stop()
	sub.Close()

	sent := map[uint32]uint64{}
	for i, p := range pubs {
		// Only acknowledged messages were promised to be queued.
		sent[uint32(i)] = p.acked.Load()
	}
	res.Expected = res.Acked
	c := r.tracker.Counts(sent)
	res.Received, res.Replayed = c.Received, c.Received-c.Duplicated-c.Invalid-c.Unexpected
	res.Lost, res.Duplicated, res.OutOfOrder, res.Unexpected, res.Invalid = c.Lost, c.Duplicated, c.OutOfOrder, c.Unexpected, c.Invalid
	if cut && res.Lost > 0 {
		res.Undelivered, res.Lost = res.Lost, 0 // still replaying at the cap
	}
	if last := r.last.Load(); last > 0 {
		res.ReplayRate = perSecond(res.Replayed, time.Unix(0, last).Sub(start))
	}
	res.Latency = summary(lat.merged())
	res.Elapsed = time.Since(pubStart).Seconds()
	return nil
}
