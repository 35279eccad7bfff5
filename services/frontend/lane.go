package frontend

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// A lane is where one connection's Kafka appends are made: requests are
// appended in the order the loop made them, the ones queued together in
// one Append, on a goroutine that runs only while the lane has work; each
// outcome comes back to the loop as a result in the inbox. The loop never
// waits for Kafka, so a PINGRESP or a SUBACK never waits behind another
// packet's append.
//
// A connection has three lanes, for appends that must keep their order
// among themselves but not with the others':
//   - publish: the client's messages, then the qos2_in and qos2_rel ops of
//     its QoS 2 exchanges (a packet id is released only after it was held);
//   - sub: subscribe and unsubscribe ops (the same filter, in order);
//   - ops: the delivery state (progress, qos2_out, drop), and at the end the
//     final progress and the disconnect op, once the other lanes are idle.
//
// The ops of different lanes commute in the session service: they touch
// different parts of the session (docs/design.md).
type lane struct {
	c *conn

	mu      sync.Mutex
	queue   []*appendReq
	running bool
	busy    int // requests taken by the goroutine and not yet answered
}

// appendReq is one append of a lane.
type appendReq struct {
	// recs are appended first; then, once they are durable, recs2 (a
	// QoS 2 packet id held only after its message is logged).
	recs, recs2 []*kafkalog.Record
	// retry: retried with back-off until PublishRetry passes or the
	// connection ends; otherwise one attempt bounded by opTimeout.
	retry bool
	// fence: once appended, wait until the takeover watch has read past
	// the last record (see opWatermark) before answering.
	fence bool
	// done runs in the loop with the outcome.
	done func(err error)
}

// submit queues r and starts the lane's goroutine unless it runs.
func (l *lane) submit(r *appendReq) {
	l.mu.Lock()
	l.queue = append(l.queue, r)
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		l.c.s.laneWG.Add(1)
		go l.run()
	}
}

// idle reports whether the lane has nothing queued or being appended.
// Only meaningful in the loop, which is where requests are submitted.
func (l *lane) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue) == 0 && l.busy == 0
}

func (l *lane) run() {
	defer l.c.s.laneWG.Done()
	for {
		l.mu.Lock()
		reqs := l.queue
		l.queue = nil
		if len(reqs) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.busy += len(reqs)
		l.mu.Unlock()
		err := l.append(reqs)
		l.c.post(func() {
			l.mu.Lock()
			l.busy -= len(reqs)
			l.mu.Unlock()
			for _, r := range reqs {
				if r.done != nil {
					r.done(err)
				}
			}
		})
	}
}

// append makes the appends of reqs: their recs, then their recs2, each
// stage in one Append; then the fence.
func (l *lane) append(reqs []*appendReq) error {
	retry, fence := false, false
	var first, second []*kafkalog.Record
	for _, r := range reqs {
		retry = retry || r.retry
		fence = fence || r.fence
		first = append(first, r.recs...)
		second = append(second, r.recs2...)
	}
	l.observeWait(first)
	for _, stage := range [][]*kafkalog.Record{first, second} {
		if len(stage) == 0 {
			continue
		}
		if err := l.c.appendRecords(stage, retry); err != nil {
			return err
		}
	}
	if fence {
		last := first[len(first)-1]
		ctx, cancel := context.WithTimeout(l.c.ctx, opTimeout)
		defer cancel()
		if err := l.c.s.opsSeen.waitPast(ctx, last.Partition, last.Offset); err != nil {
			return errors.Join(ErrKafkaUnavailable, err)
		}
	}
	return nil
}

// observeWait records how long the PUBLISHes among recs waited, since
// they were read, for their append to start.
func (l *lane) observeWait(recs []*kafkalog.Record) {
	now := time.Now()
	messages := l.c.s.cfg.Topics.Messages
	for _, r := range recs {
		if r.Topic == messages && !r.Time.IsZero() {
			l.c.s.m.publishWait.Observe(now.Sub(r.Time).Seconds())
		}
	}
}

// opTimeout bounds one append attempt, and a fence.
const opTimeout = 10 * time.Second

// Back-off bounds of retried appends.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// appendRecords appends recs: once, or with retry until PublishRetry
// passes (then ErrKafkaUnavailable) or the connection ends. Attempts do not
// end with the connection's context: the final ops of a connection that
// is ending are appended too.
func (c *conn) appendRecords(recs []*kafkalog.Record, retry bool) error {
	deadline := time.Now().Add(c.s.cfg.PublishRetry)
	wait := retryMin
	for {
		left := opTimeout
		if retry {
			left = min(time.Until(deadline), opTimeout)
			if left <= 0 {
				return ErrKafkaUnavailable
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), left)
		start := time.Now()
		err := c.s.app.Append(ctx, recs...)
		cancel()
		if err == nil {
			d := time.Since(start)
			c.s.m.appendLatency.Observe(d.Seconds())
			if d > 500*time.Millisecond {
				c.logger().Warn("slow append", "records", len(recs), "took", d)
			}
			return nil
		}
		c.s.m.appendFailures.Inc()
		if !retry {
			return err
		}
		c.logger().Warn("append failed, retrying", "err", err)
		t := time.NewTimer(min(wait, max(time.Until(deadline), 0)))
		select {
		case <-t.C:
		case <-c.dead:
			t.Stop()
			return errors.Join(c.cause(), err)
		}
		wait = min(wait*2, retryMax)
	}
}
