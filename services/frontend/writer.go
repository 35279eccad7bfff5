package frontend

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// bufPool holds write buffers between flushes, so an idle connection holds
// none. Buffers that grew large are not kept.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 64 << 10

// writeLoop is the writer goroutine: it drains the outbox into the socket
// with a write deadline and never holds a lock during I/O.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.writerDone)
	for {
		select {
		case <-c.out.signal:
		case <-c.ctx.Done():
			return
		}
		b := c.out.take(time.Now())
		if b.slow {
			c.kill(ErrSlowConsumer)
			// The DISCONNECT queued by kill is taken on the next round.
			b = c.out.takeControl()
		}
		if len(b.pkts) == 0 && len(b.drops) == 0 {
			continue
		}
		for _, d := range b.drops {
			c.drop(d.reason, d.msg)
		}
		if len(b.q2out) > 0 && !c.logQoS2Out(b.q2out) {
			return
		}
		if errors.Is(c.cause(), ErrTakenOver) {
			// A newer connection owns the session now and replays what this
			// one had not finished: write only the last word.
			b.pkts = controlOnly(b.pkts)
		}
		c.startDeliverySpans(b.sent)
		if err := c.flush(b.pkts); err != nil {
			endDeliverySpans(b.sent) // QoS 0; finish ends the others
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.killNow(ErrSlowConsumer)
			} else {
				c.killNow(err)
			}
			return
		}
		c.out.written(&b)
		endDeliverySpans(b.sent)
		for _, p := range b.pkts {
			switch p := p.(type) {
			case *mqtt.Publish:
				c.s.m.messagesOut.WithLabelValues(qosLabel[p.QoS&3]).Inc()
				c.s.m.bytesOut.Add(float64(len(p.Payload)))
			case *mqtt.Disconnect:
				return // the server's last word; finish closes the socket
			}
		}
	}
}

// logQoS2Out logs the packet ids of new QoS 2 deliveries before the client
// can see them, so a resend after any failure reuses them, and waits until
// the takeover watch has read past them (see opWatermark). It reports false
// when the connection must end.
func (c *conn) logQoS2Out(q2out []*inflightRef) bool {
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	recs, err := c.appendOps(ctx, func() []*session.Op {
		ops := make([]*session.Op, len(q2out))
		for i, q := range q2out {
			ops[i] = &session.Op{Kind: session.OpQoS2Out, PacketID: q.pid, Partition: q.p, Offset: q.o}
		}
		return ops
	})
	cancel()
	if err != nil {
		c.killNow(errors.Join(ErrKafkaUnavailable, err))
		return false
	}
	last := recs[len(recs)-1]
	ctx, cancel = context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	if err := c.s.opsSeen.waitPast(ctx, last.Partition, last.Offset); err != nil {
		if c.ctx.Err() == nil {
			c.killNow(errors.Join(ErrKafkaUnavailable, err))
		}
		return false
	}
	return true
}

// controlOnly keeps the packets that are not PUBLISH.
func controlOnly(pkts []mqtt.Packet) []mqtt.Packet {
	out := pkts[:0]
	for _, p := range pkts {
		if _, ok := p.(*mqtt.Publish); !ok {
			out = append(out, p)
		}
	}
	return out
}

// flush encodes pkts into one pooled buffer and writes it.
func (c *conn) flush(pkts []mqtt.Packet) error {
	if len(pkts) == 0 {
		return nil
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	var err error
	for _, p := range pkts {
		if buf, err = mqtt.AppendPacket(buf, p, c.version); err != nil {
			break
		}
	}
	if err == nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		_, err = c.nc.Write(buf)
	}
	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	return err
}

// drop logs a message the session will not get, as an op and a metric.
func (c *conn) drop(reason events.DropReason, m *message) {
	c.s.m.drops.WithLabelValues(string(reason)).Inc()
	if m.offset < 0 {
		return
	}
	if err := c.op(func() *session.Op {
		return &session.Op{Kind: session.OpDrop, Reason: string(reason), Partition: m.partition, Offset: m.offset, Topic: m.topic, Count: 1}
	}); err != nil {
		c.log.Warn("log drop", "err", err)
	}
}

// idleProgress is how often the cursor of a session without delivery
// activity is logged anyway: only the scan after a crash depends on it.
const idleProgress = 10 * time.Second

// progressLoop logs, every ProgressInterval, the cursor and inflight window
// of the sessions whose delivery state changed (and of the others every
// idleProgress). One ticker serves every connection; each op is appended
// on a goroutine of its own so a slow append delays no other session.
func (s *Server) progressLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		conns := make([]*conn, 0, len(s.clients))
		for _, c := range s.clients {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		now := time.Now()
		for _, c := range conns {
			if !c.attached.Load() || !c.progressMu.TryLock() {
				continue
			}
			if !c.out.takeDirty() && now.Sub(c.progressAt) < idleProgress {
				c.progressMu.Unlock()
				continue
			}
			go func() {
				defer c.progressMu.Unlock()
				c.lastProgress = c.sendProgress(c.ctx, c.lastProgress, false)
				c.progressAt = time.Now()
			}()
		}
	}
}

type progressState struct {
	cursor   map[int]int64
	inflight []session.Inflight
}

func (p *progressState) equal(q *progressState) bool {
	if p == nil || q == nil || len(p.cursor) != len(q.cursor) || len(p.inflight) != len(q.inflight) {
		return false
	}
	for k, v := range p.cursor {
		if q.cursor[k] != v {
			return false
		}
	}
	seen := make(map[session.Inflight]bool, len(p.inflight))
	for _, e := range p.inflight {
		seen[e] = true
	}
	for _, e := range q.inflight {
		if !seen[e] {
			return false
		}
	}
	return true
}

// logProgress logs the current progress unconditionally.
func (c *conn) logProgress(ctx context.Context) error {
	_, err := c.appendOp(ctx, func() *session.Op {
		cur, infl := c.out.progress(c.s.router.positions())
		return &session.Op{Kind: session.OpProgress, Cursor: cur, Inflight: infl}
	})
	return err
}

// sendProgress logs a progress op unless nothing changed since last (force
// logs it anyway, before disconnect). The snapshot is taken under the op
// lock, so it is never older than an op logged before it.
func (c *conn) sendProgress(ctx context.Context, last *progressState, force bool) *progressState {
	var now *progressState
	_, err := c.appendOp(ctx, func() *session.Op {
		var pos map[int]int64
		if force {
			pos = c.finalPos
		} else {
			pos = c.s.router.positions()
		}
		cur, infl := c.out.progress(pos)
		now = &progressState{cursor: cur, inflight: infl}
		if !force && now.equal(last) {
			return nil
		}
		c.log.Debug("progress", "cursor", cur, "inflight", infl, "final", force)
		return &session.Op{Kind: session.OpProgress, Cursor: cur, Inflight: infl}
	})
	if err != nil {
		c.log.Warn("log progress", "err", err)
		return last
	}
	return now
}
