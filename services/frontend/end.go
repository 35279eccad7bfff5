package frontend

import (
	"errors"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// The end of an attached connection, run by its loop in steps (it never
// waits: each step is taken when what it needs has come back through the
// inbox):
//
//  1. beginEnd, at the first turn after kill: an MQTT 5 client that got its
//     CONNACK is sent DISCONNECT with the reason code (the last word:
//     nothing is written after it); the session leaves live delivery and its
//     shares (their unfinished deliveries go to other members); the
//     replayer is stopped; the reader stops at its read deadline. After
//     the client's own DISCONNECT, the answers to what it sent before it
//     still go out as their appends finish (flushAcks).
//  2. endStep, once the reader, the replayer, and the publish and subscribe
//     lanes are done: the final progress op (every record below the
//     router positions at step 1 was offered to the session) and the
//     disconnect op are appended, after whatever the ops lane holds.
//  3. finishEnd, when they are logged (or failed): the socket closes, so a
//     client that reconnects as soon as it sees the close finds its state
//     applied; then metrics and the log line. The session service
//     publishes the will from the disconnect op.

// beginEnd is step 1; called again while ending, it retries step 2.
func (c *conn) beginEnd() {
	if c.ending {
		c.flushAcks()
		c.endStep()
		return
	}
	c.ending = true
	_, code, send := closeReason(c.cause())
	c.heldQ2 = nil
	c.acksAfterEnd = errors.Is(c.cause(), ErrClientDisconnect)
	if c.acksAfterEnd {
		c.flushAcks()
	} else {
		c.ctrl = nil
	}
	if send && c.connacked.Load() && c.version == mqtt.V5 {
		c.ctrl = append(c.ctrl, &mqtt.Disconnect{ReasonCode: code})
		c.flush(nil, lastWordTimeout)
	}
	c.finalPos = c.s.router.remove(c)
	// What the router offered before it let go holds the cursor: it is
	// counted, though not sent. Nothing is offered after this.
	c.in.mu.Lock()
	c.in.closing = true
	c.in.mu.Unlock()
	c.pullLive()
	c.cancel() // the replayer stops
	c.attached.Store(false)
	c.endUnacked() // before leaveShares hands unacknowledged shared deliveries on
	c.leaveShares()
	c.endStep()
}

// flushAcks writes, after the client's own DISCONNECT, the answers to the
// packets it sent before it (a PUBACK once its message is logged): the
// client may wait for them before it closes, and without them it would
// send the messages again. After any other cause nothing more is written
// but the server's DISCONNECT.
func (c *conn) flushAcks() {
	if !c.acksAfterEnd {
		c.ctrl = nil
		return
	}
	c.flush(nil, lastWordTimeout)
}

// lastWordTimeout bounds the write of the server's DISCONNECT: a client
// that does not read gets its socket closed anyway.
const lastWordTimeout = 2 * time.Second

// endStep is step 2.
func (c *conn) endStep() {
	if !c.ending || c.finalSent || !c.readerDone || c.replaying || !c.pub.idle() || !c.subLane.idle() {
		return
	}
	c.finalSent = true
	reason, code, _ := closeReason(c.cause())
	cur, infl := c.out.progress(c.finalPos, c.lostOffsets())
	c.logger().Debug("progress", "cursor", cur, "inflight", infl, "final", true)
	recs := []*kafkalog.Record{
		c.opRecord(&session.Op{Kind: session.OpProgress, Cursor: cur, Inflight: infl}),
		c.opRecord(&session.Op{Kind: session.OpDisconnect, Reason: string(reason), Code: byte(code), Expiry: c.expiry}),
	}
	c.opsL.submit(&appendReq{recs: recs, done: func(err error) {
		if err != nil {
			c.logger().Warn("log disconnect", "err", err)
		}
		c.finishEnd(reason)
	}})
}

// finishEnd is step 3: the connection is gone.
func (c *conn) finishEnd(reason events.DisconnectReason) {
	c.nc.Close()
	c.s.unregister(c)
	c.s.m.disconnects.WithLabelValues(string(reason)).Inc()
	switch reason {
	case events.DisconnectSlowConsumer:
		c.s.m.slowConsumers.Inc()
		c.s.lim.hit(limitPending)
	case events.DisconnectTakenOver:
		c.s.m.takeovers.Inc()
	}
	// The one line per session connection at info: its end and why.
	c.logger().Info("connection ended", "reason", reason, "err", c.cause())
	c.queuedN.Store(0)
	c.unackedN.Store(0)
	c.in.mu.Lock()
	c.in.stopped = true
	c.in.mu.Unlock()
	close(c.done)
}

// leaveShares hands the connection's unfinished shared deliveries to the
// other local members and leaves its shared subscriptions.
func (c *conn) leaveShares() {
	unfinished := c.out.unfinishedShared()
	for f := range c.subs {
		if group, inner, shared, _ := topic.ParseShared(f); shared {
			c.s.shares.leave(c, group, inner, unfinished)
		}
	}
}
