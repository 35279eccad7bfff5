package frontend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// conn is one MQTT network connection. Its goroutines (docs/design.md,
// "A connection's goroutines"):
//
//   - the reader (serve): reads and decodes packets and puts them in the
//     inbox; it owns the read side of the socket and nothing else;
//   - the loop (runLoop), while the inbox has work: the one owner of the
//     session state below, it handles what the inbox holds and writes to
//     the socket;
//   - the append lanes (lane.go), while they have work: Kafka appends, whose
//     outcomes come back through the inbox;
//   - the replayer (replay.go), once, for a resumed session.
//
// The connection ends in one place: kill records the first cause, and the
// loop runs the end (end.go), which derives the reason once.
type conn struct {
	s  *Server
	nc net.Conn
	id string // connection id (UUID) of ops and events

	// Set during CONNECT, read-only afterwards (the loop starts after).
	clientID  string
	version   mqtt.Version
	username  string
	keepAlive time.Duration // read deadline: 1.5 x Keep Alive; 0 = none
	connExp   uint32        // session expiry from CONNECT (seconds)
	info      ClientInfo
	connSpan  trace.SpanContext // the CONNECT span, when traced (trace.go)

	epoch     atomic.Int64 // offset of the connect op; -1 until logged
	connacked atomic.Bool
	// newestSeen is the highest connect op offset for this ClientID that
	// the takeover watch read while this connection's own connect op was
	// being logged (see Server.expect); guarded by Server.mu.
	newestSeen int64
	// inc is the frontend incarnation the connection's connect op names:
	// the one the cluster ends it with if this process is declared dead.
	// Set by Server.expect; guarded by Server.mu.
	inc string
	// attached: the loop runs the session (the progress ticker may ask).
	attached atomic.Bool
	// dirty: the delivery state changed since the last progress op;
	// progressAt: when the last one was logged (unix ns). Set by the loop,
	// read by the progress ticker.
	dirty      atomic.Bool
	progressAt atomic.Int64
	// roomy: the client's window has room and little is queued (shared
	// deliveries prefer such members); queuedN and unackedN feed the
	// gauges. Set by the loop after each turn.
	roomy              atomic.Bool
	queuedN, unackedN  atomic.Int64
	ctx                context.Context // ends when the connection ends
	cancel             context.CancelFunc
	pubRate            *bucket // reader only; nil: no publish rate limit
	endMu              sync.Mutex
	err                error         // first cause of the end; guarded by endMu
	dead               chan struct{} // closed with the first cause
	done               chan struct{} // closed when the end is complete
	in                 inbox
	pub, subLane, opsL lane
	// routerSince is when the router last changed the connection's
	// subscriptions (monotonic ns); guarded by the router's mu.
	routerSince int64

	// Owned by the loop.
	out       *outbox
	subs      map[string]session.Subscription
	inAliases map[uint16]string
	// inQuota counts inbound QoS 1/2 PUBLISHes not yet answered: MQTT 5
	// clients must stay within our Receive Maximum.
	inQuota int
	// q2in holds the inbound QoS 2 packet ids logged and awaiting PUBREL;
	// q2logging the ones whose message is being logged.
	q2in, q2logging map[uint16]struct{}
	expiry          uint32 // session expiry at the end (DISCONNECT may change it)
	ctrl            []mqtt.Packet
	// heldQ2 holds a written-out batch whose QoS 2 PUBLISHes wait for
	// their qos2_out ops (see opWatermark); nothing more is taken
	// meanwhile, so per-topic order holds.
	heldQ2       *writeBatch
	progressBusy bool           // a periodic progress op is being appended
	lastProgress *progressState // the last one logged
	replaying    bool           // the replayer runs
	ending       bool           // the end began (end.go)
	acksAfterEnd bool           // the client's DISCONNECT ended it: answers still go out (end.go)
	readerDone   bool
	finalSent    bool
	finalPos     map[int]int64 // router positions when the session left it
}

func (s *Server) newConn(nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		s:       s,
		nc:      nc,
		id:      uuid.NewString(),
		ctx:     ctx,
		cancel:  cancel,
		dead:    make(chan struct{}),
		done:    make(chan struct{}),
		pubRate: s.lim.newPublishBucket(),
	}
	c.pub.c, c.subLane.c, c.opsL.c = c, c, c
	// No loop until attach: what is put before that waits for it.
	c.in.running = true
	c.in.maxPending = s.cfg.MaxPending
	c.epoch.Store(-1)
	return c
}

// logger is the server's logger with the connection's attributes, built
// when something is logged: an idle connection holds none.
func (c *conn) logger() *slog.Logger {
	if c.clientID == "" {
		return c.s.log.With("conn", c.id)
	}
	return c.s.log.With("client", c.clientID, "conn", c.id)
}

// kill ends the connection for err; the first cause wins. It may be called
// from any goroutine. The reader stops (its read deadline is past) and the
// loop runs the end: an MQTT 5 client that got its CONNACK is sent
// DISCONNECT with the reason code, the final ops are logged, and only then
// is the socket closed, so a client that reconnects at once finds its
// state applied.
func (c *conn) kill(err error) {
	c.endMu.Lock()
	if c.err != nil {
		c.endMu.Unlock()
		return
	}
	c.err = err
	close(c.dead)
	c.endMu.Unlock()
	_ = c.nc.SetReadDeadline(time.Now())
	c.post(nil)
}

// cause is the first cause of the end, nil while the connection lives.
func (c *conn) cause() error {
	c.endMu.Lock()
	defer c.endMu.Unlock()
	return c.err
}

// post puts fn for the loop to run; nil asks for a turn with nothing
// else to do, one that runs even when the caller is the loop itself.
func (c *conn) post(fn func()) {
	c.in.mu.Lock()
	if fn != nil {
		c.in.results = append(c.in.results, fn)
	} else {
		c.in.again = true
	}
	start := c.in.kickLocked()
	c.in.mu.Unlock()
	if start {
		go c.runLoop()
	}
}

// offer queues a live delivery (router, share groups); it never blocks.
// When the session is too far behind it marks the overflow, which ends the
// connection as a slow consumer. A shared delivery is refused instead
// (false), as it is by a connection that is ending, so its group gives it
// to another member.
func (c *conn) offer(d *delivery) bool {
	in := &c.in
	in.mu.Lock()
	if in.stopped || in.closing || (d.share != nil && (in.overflow || in.liveQueued >= in.maxPending)) {
		in.mu.Unlock()
		return false
	}
	if in.overflow || in.liveQueued >= in.maxPending {
		if !in.overflow {
			in.overflow = true
			in.results = append(in.results, func() { c.kill(ErrSlowConsumer) })
		}
		if d.tracked() {
			if in.lost == nil {
				in.lost = make(map[int]int64)
			}
			if l, ok := in.lost[d.msg.partition]; !ok || d.msg.offset < l {
				in.lost[d.msg.partition] = d.msg.offset
			}
		}
	} else {
		d.live = true
		in.liveQueued++
		in.live = append(in.live, d)
	}
	start := in.kickLocked()
	in.mu.Unlock()
	if start {
		go c.runLoop()
	}
	return true
}

// liveDone counts n live deliveries written or dropped.
func (c *conn) liveDone(n int) {
	if n == 0 {
		return
	}
	c.in.mu.Lock()
	c.in.liveQueued -= n
	c.in.mu.Unlock()
}

// lostOffsets copies the offsets lost to an overflow, for the cursor.
func (c *conn) lostOffsets() map[int]int64 {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if len(c.in.lost) == 0 {
		return nil
	}
	out := make(map[int]int64, len(c.in.lost))
	for p, o := range c.in.lost {
		out[p] = o
	}
	return out
}

// serve takes a new connection up to its CONNACK (or its refusal), then
// hands it to a reader goroutine of its own and returns. Everything before
// the CONNACK (a TLS handshake, the connect op's append, the wait for the
// session) runs deep in the crypto, Kafka and Redis clients and grows the
// stack of the goroutine doing it; a goroutine keeps its stack as long as
// it lives, and the reader lives as long as the connection, so it starts
// afresh, with a stack sized for reading. release runs last, when the
// connection is over.
func (s *Server) serve(nc net.Conn, release func()) {
	c := s.newConn(nc)
	s.m.connections.Inc()
	tracked := s.track(c)
	end := func() {
		if tracked {
			s.untrack(c)
		}
		c.cancel()
		s.m.connections.Dec()
		release()
	}
	if !tracked {
		nc.Close()
		end()
		return
	}
	r := mqtt.NewReader(nc, s.cfg.MaxPacketSize)
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	cp, err := r.ReadConnect()
	if err != nil {
		s.lim.readFailed(err, true)
		c.refuseUndecoded(err)
		end()
		return
	}
	st, ok := c.traceConnect(cp)
	if !ok {
		end()
		return
	}
	c.attach(st)
	go c.read(r, end)
}

// read is the reader goroutine of an accepted connection: it reads until
// the connection ends, waits for the end to be complete, then runs end.
func (c *conn) read(r *mqtt.Reader, end func()) {
	defer end()
	err := c.readLoop(r)
	c.s.lim.readFailed(err, false)
	if !errors.Is(err, ErrClientDisconnect) {
		c.kill(err) // a DISCONNECT ends the connection when the loop handles it
	}
	c.post(func() {
		c.readerDone = true
		if c.ending {
			// A SUBSCRIBE read while the end began joined the router
			// after the session left it (joinEarly): gone again.
			c.s.router.remove(c)
		}
		c.endStep()
	})
	<-c.done
}

// attach starts the session of an accepted connection: its subscriptions
// join live delivery, its inflight window and queue are restored, the
// replayer starts, and the loop takes over.
func (c *conn) attach(st session.State) {
	var plain []session.Subscription
	for _, sub := range st.Subscriptions {
		if c.subs == nil {
			c.subs = make(map[string]session.Subscription, len(st.Subscriptions))
		}
		c.subs[sub.Filter] = sub
		if isShared(sub.Filter) {
			c.route(sub)
		} else {
			plain = append(plain, sub)
		}
	}
	sw := c.s.router.attach(c, plain)
	c.ctrl = append(c.ctrl, c.out.restore(&st, sw)...)
	if len(st.QoS2In) > 0 {
		c.q2in = make(map[uint16]struct{}, len(st.QoS2In))
		for _, id := range st.QoS2In {
			c.q2in[id] = struct{}{}
		}
	}
	c.logger().Debug("session attached", "present", st.Present, "epoch", st.Epoch, "subs", len(st.Subscriptions),
		"cursor", st.Cursor, "qfrom", st.QueueFrom, "inflight", st.Inflight, "queue", st.Queue, "sw", sw)
	c.replaying = true
	c.s.replayWG.Add(1)
	go c.replay(st, sw)
	c.progressAt.Store(time.Now().UnixNano())
	c.attached.Store(true)
	go c.runLoop() // the inbox was held for this (newConn)
}

// readLoop decodes packets into the inbox until an error ends the
// connection. A PUBLISH waits while the loop has too many to log.
func (c *conn) readLoop(r *mqtt.Reader) error {
	for {
		if c.keepAlive > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		// kill sets the cause, then a past read deadline; checking after
		// our own deadline was set means neither order is missed.
		if err := c.cause(); err != nil {
			return err
		}
		// The connection idles in Await, whose stack frame is small
		// (see serve on why the reader's stack matters).
		err := r.Await()
		var p mqtt.Packet
		if err == nil {
			p, err = r.ReadPacket(c.version)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return ErrKeepAlive
			}
			return fmt.Errorf("read packet: %w", err)
		}
		switch q := p.(type) {
		case *mqtt.Publish:
			if err := c.inboundRoom(); err != nil {
				return err
			}
		case *mqtt.Subscribe:
			p = c.joinEarly(q)
		case *mqtt.Unsubscribe:
			c.leaveEarly(q)
		}
		c.in.mu.Lock()
		c.in.packets = append(c.in.packets, p)
		start := c.in.kickLocked()
		c.in.mu.Unlock()
		if start {
			go c.runLoop()
		}
		if _, ok := p.(*mqtt.Disconnect); ok {
			return ErrClientDisconnect
		}
	}
}

// inboundRoom holds the reader while the loop has maxInbound PUBLISHes
// not yet answered, and paces it to the publish rate limit: a client over
// either is slowed by TCP flow control, and none of its messages is
// dropped.
func (c *conn) inboundRoom() error {
	for {
		c.in.mu.Lock()
		if c.in.inbound < maxInbound {
			c.in.inbound++
			c.in.mu.Unlock()
			break
		}
		if c.in.drained == nil {
			c.in.drained = make(chan struct{}, 1)
		}
		drained := c.in.drained
		c.in.mu.Unlock()
		select {
		case <-drained:
		case <-c.dead:
			return c.cause()
		}
	}
	if c.pubRate == nil {
		return nil
	}
	d := c.pubRate.take(time.Now())
	if d <= 0 {
		return nil
	}
	c.s.lim.hit(limitPublishRate)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.dead:
		return c.cause()
	}
}

// inboundDone frees n slots of inboundRoom.
func (c *conn) inboundDone(n int) {
	c.in.mu.Lock()
	c.in.inbound -= n
	drained := c.in.drained
	c.in.mu.Unlock()
	if drained != nil {
		signal(drained)
	}
}

// runLoop is the loop: it takes what the inbox holds, turn after turn,
// until the inbox is empty (then a later put starts it again) or the
// connection has ended.
func (c *conn) runLoop() {
	var b batch
	for c.in.take(&b) {
		c.turn(&b)
		b = batch{}
	}
}

// turn handles one batch of the inbox, then writes what is due. Live
// deliveries go into the outbox first: a progress computed in this turn
// reads router positions that may already be past them.
func (c *conn) turn(b *batch) {
	for _, d := range b.live {
		c.addLive(d)
	}
	for _, p := range b.packets {
		// What was read after the cause of the end is not acted on.
		if c.cause() != nil {
			break
		}
		if err := c.handle(p); err != nil {
			c.kill(err)
		}
	}
	for _, fn := range b.results {
		if fn != nil {
			fn()
		}
	}
	for i := range b.replay {
		c.onReplay(&b.replay[i])
	}
	if c.cause() != nil {
		c.beginEnd()
		return
	}
	c.write()
	if c.out.dirty {
		c.out.dirty = false
		c.dirty.Store(true)
	}
	c.roomy.Store(!c.out.windowFull() && len(c.out.live) < c.out.window)
	c.queuedN.Store(int64(c.out.queued()))
	c.unackedN.Store(int64(c.out.unacked()))
}

// opRecord fills in the connection's part of op and encodes it.
func (c *conn) opRecord(op *session.Op) *kafkalog.Record {
	op.ClientID = c.clientID
	op.Conn = c.id
	op.Epoch = max(c.epoch.Load(), 0)
	op.Node = c.s.cfg.Node
	op.TS = time.Now().UnixMilli()
	return op.Record(c.s.cfg.Topics.Sessions)
}

// logOp appends one op outside the lanes, for the connection's first and
// last words before and after its loop (CONNECT refusals, an end before
// CONNACK).
func (c *conn) logOp(op *session.Op) error {
	return c.appendRecords([]*kafkalog.Record{c.opRecord(op)}, false)
}

// submitOp appends op on lane l (see lane.go); done runs in the loop.
func (c *conn) submitOp(l *lane, op *session.Op, retry bool, done func(error)) {
	l.submit(&appendReq{recs: []*kafkalog.Record{c.opRecord(op)}, retry: retry, done: done})
}
