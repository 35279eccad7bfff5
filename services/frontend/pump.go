package frontend

import (
	"context"
	"errors"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// inbound is one item of the publish pump: a PUBLISH, or a PUBREL (rel != 0).
type inbound struct {
	pub    *mqtt.Publish
	denied bool // the Authorizer refused the PUBLISH
	rel    uint16
}

// pumpBatch bounds the PUBLISHes appended together; it is also the
// capacity of the pump's channel, so that while one append waits for Kafka
// the reader can queue a whole next batch. With a smaller channel the batch
// after a slow append held only what fitted in the channel, and one
// connection's throughput was about that many messages per Kafka round trip.
const pumpBatch = 256

// pumpLoop appends the client's PUBLISHes to the log in arrival order and
// acknowledges each only after Kafka acknowledged it (acks=all). While
// Kafka is unavailable it holds the batch and retries with back-off, so no
// false acknowledgement is sent and no message is reordered; after
// PublishRetry it gives up and closes the connection (the client resends
// the unacknowledged messages when it reconnects).
//
// The pump owns the inbound QoS 2 state (q2in): a DUP PUBLISH whose packet
// id awaits PUBREL was logged already and is only acknowledged again.
func (c *conn) pumpLoop(q2 []uint16) {
	defer c.wg.Done()
	defer close(c.pumpDone)
	q2in := make(map[uint16]struct{}, len(q2))
	for _, id := range q2 {
		q2in[id] = struct{}{}
	}
	items := make([]inbound, 0, pumpBatch)
	for {
		items = items[:0]
		select {
		case in, ok := <-c.pumpCh:
			if !ok {
				return
			}
			items = append(items, in)
		case <-c.ctx.Done():
			return
		}
		closed := false
	more:
		for len(items) < pumpBatch {
			select {
			case in, ok := <-c.pumpCh:
				if !ok {
					closed = true
					break more
				}
				items = append(items, in)
			default:
				break more
			}
		}
		if err := c.pumpOnce(items, q2in); err != nil {
			c.kill(err)
			return
		}
		if closed {
			return
		}
	}
}

func (c *conn) pumpOnce(items []inbound, q2in map[uint16]struct{}) error {
	now := time.Now()
	recs := make([]*kafkalog.Record, 0, len(items))
	var spans []*publishTrace // none while tracing is off
	for _, in := range items {
		p := in.pub
		if p == nil || in.denied {
			continue
		}
		if p.QoS == 2 {
			if _, seen := q2in[p.PacketID]; seen {
				continue // [MQTT-4.3.3-10]: logged once already
			}
		}
		rec := publishRecord(c.s.cfg.Topics.Messages, c.clientID, p, now)
		if pt := startPublishSpan(c.clientID, p, rec); pt != nil {
			spans = append(spans, pt)
		}
		recs = append(recs, rec)
		if p.Retain {
			r := publishRecord(c.s.cfg.Topics.Retained, c.clientID, p, now)
			if len(p.Payload) == 0 {
				r.Value = nil // tombstone: clears the retained message [MQTT-3.3.1-6]
			}
			recs = append(recs, r)
		}
	}
	if len(recs) > 0 {
		err := c.appendRetrying(recs)
		for _, sp := range spans {
			endSpan(sp, err)
		}
		if err != nil {
			return err
		}
	}
	for _, in := range items {
		if in.rel != 0 {
			if err := c.onPubrel(in.rel, q2in); err != nil {
				return err
			}
			continue
		}
		p := in.pub
		var rc mqtt.ReasonCode
		if in.denied {
			rc = mqtt.NotAuthorized
		}
		switch p.QoS {
		case 1:
			if !c.out.control(&mqtt.Puback{PacketID: p.PacketID, ReasonCode: rc}) {
				return ErrSlowConsumer
			}
			c.quotaDone()
		case 2:
			if _, seen := q2in[p.PacketID]; !seen && !in.denied {
				pid := p.PacketID
				if err := c.opRetrying(func() *session.Op { return &session.Op{Kind: session.OpQoS2In, PacketID: pid} }); err != nil {
					return err
				}
				q2in[pid] = struct{}{}
			}
			if !c.out.control(&mqtt.Pubrec{PacketID: p.PacketID, ReasonCode: rc}) {
				return ErrSlowConsumer
			}
			if in.denied {
				c.quotaDone() // a failure PUBREC ends the exchange
			}
		}
	}
	return nil
}

// onPubrel releases an inbound QoS 2 packet id and completes it.
func (c *conn) onPubrel(pid uint16, q2in map[uint16]struct{}) error {
	rc := mqtt.Success
	if _, ok := q2in[pid]; ok {
		if err := c.opRetrying(func() *session.Op { return &session.Op{Kind: session.OpQoS2Rel, PacketID: pid} }); err != nil {
			return err
		}
		delete(q2in, pid)
	} else {
		rc = mqtt.PacketIdentifierNotFound
	}
	if !c.out.control(&mqtt.Pubcomp{PacketID: pid, ReasonCode: rc}) {
		return ErrSlowConsumer
	}
	if rc == mqtt.Success {
		c.quotaDone()
	}
	return nil
}

// quotaDone frees one slot of the inbound Receive Maximum window. Ids
// resumed from an earlier connection were never counted here, hence the
// floor at zero.
func (c *conn) quotaDone() {
	for {
		n := c.inQuota.Load()
		if n <= 0 || c.inQuota.CompareAndSwap(n, n-1) {
			return
		}
	}
}

// Back-off bounds of the pump's retries.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// retry runs fn until it succeeds, the connection dies, or PublishRetry
// passes (then ErrKafkaUnavailable).
func (c *conn) retry(what string, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(c.s.cfg.PublishRetry)
	wait := retryMin
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ErrKafkaUnavailable
		}
		ctx, cancel := context.WithTimeout(c.ctx, min(left, opTimeout))
		start := time.Now()
		err := fn(ctx)
		cancel()
		if err == nil {
			d := time.Since(start)
			c.s.m.appendLatency.Observe(d.Seconds())
			if d > 500*time.Millisecond {
				c.log.Warn("slow append", "what", what, "took", d)
			}
			return nil
		}
		c.s.m.appendFailures.Inc()
		c.log.Warn("append failed, retrying", "what", what, "err", err)
		t := time.NewTimer(min(wait, max(time.Until(deadline), 0)))
		select {
		case <-t.C:
		case <-c.dead:
			t.Stop()
			return errors.Join(c.cause(), err)
		case <-c.ctx.Done():
			t.Stop()
			return c.ctx.Err()
		}
		wait = min(wait*2, retryMax)
	}
}

func (c *conn) appendRetrying(recs []*kafkalog.Record) error {
	return c.retry("publish", func(ctx context.Context) error {
		return c.s.app.Append(ctx, recs...)
	})
}

func (c *conn) opRetrying(build func() *session.Op) error {
	return c.retry("session op", func(ctx context.Context) error {
		_, err := c.appendOp(ctx, build)
		return err
	})
}
