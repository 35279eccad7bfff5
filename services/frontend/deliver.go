package frontend

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// bufPool holds write buffers between flushes, so an idle connection holds
// none. Buffers that grew large are not kept.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 64 << 10

// write writes, at the end of a turn, the control packets due and the
// deliveries the client's window lets through. QoS 2 PUBLISHes wait for
// their qos2_out ops (logQoS2Out), and nothing more is taken meanwhile, so
// per-topic order holds; control packets never wait for them.
func (c *conn) write() {
	var b *writeBatch
	if c.heldQ2 == nil && c.out.more() {
		wb := c.out.take(time.Now(), c.allowed)
		c.liveDone(wb.liveLeft)
		c.replayTaken(wb.replayLeft)
		for _, d := range wb.drops {
			c.drop(d.reason, d.msg)
		}
		if len(wb.q2out) > 0 {
			c.heldQ2 = &wb
			c.logQoS2Out(&wb)
		} else {
			b = &wb
		}
	}
	c.flush(b, c.s.cfg.WriteTimeout)
	if c.heldQ2 == nil && c.out.more() {
		c.post(nil) // the rest in the next turn, after what else arrived
	}
}

// allowed is the ACL at the moment of writing (invariant 10); a share
// group asked already when it chose the member.
func (c *conn) allowed(d *delivery) bool {
	return d.share != nil || c.readable(d.msg.topic)
}

// logQoS2Out logs the packet ids of a batch's new QoS 2 deliveries before
// the client can see them, so a resend after any failure reuses them, and
// waits until the takeover watch has read past them (see opWatermark);
// then the batch is written.
func (c *conn) logQoS2Out(b *writeBatch) {
	recs := make([]*kafkalog.Record, len(b.q2out))
	for i, q := range b.q2out {
		recs[i] = c.opRecord(&session.Op{Kind: session.OpQoS2Out, PacketID: q.pid, Partition: q.p, Offset: q.o})
	}
	c.opsL.submit(&appendReq{recs: recs, fence: true, done: func(err error) {
		if c.heldQ2 != b || c.cause() != nil {
			// The end came first: nothing is written any more. A
			// takeover in particular is known by now (the fence waited
			// for the watch, which kills before it moves on), and the
			// newer connection may not inherit these packet ids: written
			// here, they would reach the client again under new ones.
			return
		}
		c.heldQ2 = nil
		if err != nil {
			c.kill(errors.Join(ErrKafkaUnavailable, err))
			return
		}
		c.flush(b, c.s.cfg.WriteTimeout)
	}})
}

// flush writes the control packets due and b's PUBLISHes (b may be nil) in
// one write, from a pooled buffer, with a write deadline. No lock is held.
func (c *conn) flush(b *writeBatch, timeout time.Duration) {
	if len(c.ctrl) == 0 && (b == nil || len(b.pkts) == 0) {
		return
	}
	if b != nil {
		c.startDeliverySpans(b.sent)
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	var err error
	for _, p := range c.ctrl {
		if buf, err = mqtt.AppendPacket(buf, p, c.version); err != nil {
			break
		}
	}
	c.ctrl = c.ctrl[:0]
	if b != nil && err == nil {
		for _, p := range b.pkts {
			if buf, err = mqtt.AppendPacket(buf, p, c.version); err != nil {
				break
			}
		}
	}
	if err == nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		_, err = c.nc.Write(buf)
	}
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	if b == nil {
		if err != nil {
			c.writeFailed(err)
		}
		return
	}
	endDeliverySpans(b.sent) // QoS 0 ones; the end ends the others
	if err != nil {
		c.writeFailed(err)
		return
	}
	c.out.written(b)
	for _, p := range b.pkts {
		if p, ok := p.(*mqtt.Publish); ok {
			c.s.m.messagesOut.WithLabelValues(qosLabel[p.QoS&3]).Inc()
			c.s.m.bytesOut.Add(float64(len(p.Payload)))
		}
	}
}

// writeFailed ends the connection after a failed write: a client that did
// not take its data within the deadline is a slow consumer.
func (c *conn) writeFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = ErrSlowConsumer
	}
	c.kill(err)
}

// writeNow writes one packet directly: only before the loop starts.
func (c *conn) writeNow(p mqtt.Packet) error {
	buf, err := mqtt.AppendPacket(nil, p, c.version)
	if err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err = c.nc.Write(buf)
	return err
}

// drop logs a message the session will not get, as an op and a metric.
func (c *conn) drop(reason events.DropReason, m *message) {
	c.s.m.drops.WithLabelValues(string(reason)).Inc()
	if m.offset < 0 {
		return
	}
	c.submitOp(&c.opsL, &session.Op{Kind: session.OpDrop, Reason: string(reason), Partition: m.partition,
		Offset: m.offset, Topic: m.topic, Count: 1}, false, func(err error) {
		if err != nil {
			c.logger().Warn("log drop", "err", err)
		}
	})
}

// pullLive moves the live deliveries waiting in the inbox into the outbox:
// after reading the router positions, so that every record below them that
// was offered is in the outbox when the cursor is computed.
func (c *conn) pullLive() {
	c.in.mu.Lock()
	live := c.in.live
	c.in.live = nil
	c.in.mu.Unlock()
	for _, d := range live {
		c.addLive(d)
	}
}

// addLive moves a live delivery from the inbox into the outbox; one the
// outbox refuses as a repeat leaves the inbox's count at once.
func (c *conn) addLive(d *delivery) {
	if !c.out.addLive(d) && d.live {
		c.liveDone(1)
	}
}

// progressNow is the session's cursor and inflight list at this moment.
func (c *conn) progressNow() (map[int]int64, []session.Inflight) {
	pos := c.s.router.positions()
	c.pullLive()
	return c.out.progress(pos, c.lostOffsets())
}
