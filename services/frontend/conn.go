package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// conn is one MQTT network connection: a reader goroutine (this one, in
// serve), a writer goroutine draining the outbox, a publish pump, a progress
// ticker and, for a resumed session, a replayer.
type conn struct {
	s   *Server
	nc  net.Conn
	log *slog.Logger
	id  string // connection id (UUID) of ops and events

	// Set once during CONNECT, read-only afterwards.
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
	// lastWord is set when a server DISCONNECT is queued; writerDone is
	// closed when the writer returns, so finish lets it flush that packet.
	lastWord   atomic.Bool
	writerDone chan struct{}
	pumpDone   chan struct{} // closed when the pump returns

	out *outbox
	// pumpCh is created with the pump at the first PUBLISH or PUBREL, so
	// a connection that only subscribes has no pump goroutine.
	pumpCh chan inbound
	q2init []uint16 // inbound QoS 2 ids awaiting PUBREL at resume

	attached     atomic.Bool     // the progress ticker may look at this connection
	progressMu   sync.Mutex      // held while a periodic progress op is built and logged
	lastProgress *progressState  // guarded by progressMu
	progressAt   time.Time       // guarded by progressMu
	ctx          context.Context // ends when the connection ends
	cancel       context.CancelFunc
	wg           sync.WaitGroup

	errMu   sync.Mutex
	err     error         // first cause of the end
	dead    chan struct{} // closed with the first cause
	expiry  uint32
	killers sync.Once
	// inc is the frontend incarnation the connection's connect op names:
	// the one the cluster ends it with if this process is declared dead.
	// Set by Server.expect; guarded by Server.mu.
	inc string

	opMu sync.Mutex // serialises this connection's session ops

	subMu sync.Mutex
	subs  map[string]session.Subscription

	inAliases map[uint16]string // reader goroutine only
	pubRate   *bucket           // reader goroutine only; nil: no publish rate limit
	// inQuota counts inbound QoS 1/2 PUBLISHes not yet completed (PUBACK or
	// PUBCOMP queued): MQTT 5 clients must stay within our Receive Maximum.
	inQuota atomic.Int32

	// finalPos are the router positions when the session left the router:
	// the last progress must not claim records dispatched after it.
	finalPos map[int]int64
}

func (s *Server) newConn(nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		s:          s,
		nc:         nc,
		log:        s.log,
		id:         uuid.NewString(),
		ctx:        ctx,
		cancel:     cancel,
		dead:       make(chan struct{}),
		writerDone: make(chan struct{}),
		pumpDone:   make(chan struct{}),
		subs:       make(map[string]session.Subscription),
		pubRate:    s.lim.newPublishBucket(),
	}
	c.epoch.Store(-1)
	return c
}

// setCause records err as the cause of the end unless one was recorded;
// it reports whether err is the cause.
func (c *conn) setCause(err error) bool {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.err != nil {
		return false
	}
	c.err = err
	close(c.dead)
	return true
}

// kill ends the connection for err (the first cause wins). MQTT 5 clients
// that got their CONNACK are sent DISCONNECT with the reason code first.
// The socket stays open: the reader wakes up and runs finish, which logs
// the final ops before closing it, so a client that reconnects as soon as
// the socket closes finds its state applied.
func (c *conn) kill(err error) {
	if !c.setCause(err) {
		return
	}
	_, code, send := closeReason(err)
	if send && c.version == mqtt.V5 && c.connacked.Load() && c.out != nil {
		if c.out.control(&mqtt.Disconnect{ReasonCode: code}) {
			c.lastWord.Store(true)
		}
	}
	_ = c.nc.SetReadDeadline(time.Now())
}

// killNow ends the connection without trying to write anything more.
func (c *conn) killNow(err error) {
	c.setCause(err)
	c.nc.Close()
}

func (c *conn) cause() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// appendOp logs one session op of this connection. Ops of one connection
// are serialised so they reach the log in the order they were decided.
func (c *conn) appendOp(ctx context.Context, build func() *session.Op) (*kafkalog.Record, error) {
	return c.appendOpIf(ctx, build)
}

// appendOpIf is appendOp where build may return nil to log nothing.
func (c *conn) appendOpIf(ctx context.Context, build func() *session.Op) (*kafkalog.Record, error) {
	recs, err := c.appendOps(ctx, func() []*session.Op {
		if op := build(); op != nil {
			return []*session.Op{op}
		}
		return nil
	})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

// appendOps logs the ops build returns in one append, in their order (one
// ClientID, one partition), serialised with the connection's other ops.
func (c *conn) appendOps(ctx context.Context, build func() []*session.Op) ([]*kafkalog.Record, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	ops := build()
	if len(ops) == 0 {
		return nil, nil
	}
	recs := make([]*kafkalog.Record, len(ops))
	for i, op := range ops {
		op.ClientID = c.clientID
		op.Conn = c.id
		op.Epoch = max(c.epoch.Load(), 0)
		op.Node = c.s.cfg.Node
		op.TS = time.Now().UnixMilli()
		recs[i] = op.Record(c.s.cfg.Topics.Sessions)
		tracing.Inject(ctx, recs[i]) // the connect op carries the CONNECT span (takeover, session service)
	}
	if err := c.s.app.Append(ctx, recs...); err != nil {
		return nil, fmt.Errorf("append %s op: %w", ops[0].Kind, err)
	}
	return recs, nil
}

// opTimeout bounds a session op on the connection's critical path.
const opTimeout = 10 * time.Second

func (c *conn) op(build func() *session.Op) error {
	ctx, cancel := context.WithTimeout(c.ctx, opTimeout)
	defer cancel()
	_, err := c.appendOp(ctx, build)
	return err
}

// serve runs the connection to its end. It is the reader goroutine.
func (s *Server) serve(nc net.Conn) {
	c := s.newConn(nc)
	defer c.cancel()
	s.m.connections.Inc()
	defer s.m.connections.Dec()
	if !s.track(c) {
		nc.Close()
		return
	}
	defer s.untrack(c)

	r := mqtt.NewReader(nc, s.cfg.MaxPacketSize)
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	cp, err := r.ReadConnect()
	if err != nil {
		s.lim.readFailed(err, true)
		c.refuseUndecoded(err)
		return
	}
	st, ok := c.connectShallow(cp)
	if !ok {
		return
	}
	c.run(r, cp, st)
}

// connectShallow runs connect on a goroutine of its own and waits for it.
// CONNECT's work (the op append, the wait for the session) runs deep in
// the Kafka and Redis clients and grows the stack of whoever does it; the
// reader's stack lives as long as the connection, so it should not be the
// one: a short-lived goroutine's stack goes back to the runtime at once.
func (c *conn) connectShallow(cp *mqtt.Connect) (st session.State, ok bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, ok = c.traceConnect(cp)
	}()
	<-done
	return st, ok
}

// refuseUndecoded answers a CONNECT the codec rejected. Only an unknown
// protocol name or level has an answer every client understands: the 3.1.1
// CONNACK with return code 0x01 [MQTT-3.1.2-2]; anything else just closes.
func (c *conn) refuseUndecoded(err error) {
	defer c.nc.Close()
	if errors.Is(err, mqtt.UnsupportedProtocolVersion) {
		buf, _ := mqtt.AppendPacket(nil, &mqtt.Connack{ReasonCode: mqtt.UnsupportedProtocolVersion}, mqtt.V311)
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(buf)
		c.s.m.connects.WithLabelValues("unsupported_protocol").Inc()
		c.log.Info("connection refused", "peer", c.nc.RemoteAddr(), "reason", "unsupported_protocol")
		// Announced like every refused CONNECT; the codec stopped before
		// the ClientID, so the event names none.
		if _, err := c.appendOp(c.ctx, func() *session.Op {
			return &session.Op{Kind: session.OpRejected, Connack: byte(mqtt.RefusedProtocolVersion),
				Peer: c.nc.RemoteAddr().String(), Reason: err.Error()}
		}); err != nil {
			c.log.Warn("log rejected connect", "err", err)
		}
		return
	}
	c.s.m.connects.WithLabelValues("malformed").Inc()
	c.log.Info("connection refused", "peer", c.nc.RemoteAddr(), "reason", "malformed", "err", err)
}

// validateConnect applies the CONNECT rules the codec leaves to the server
// and the Authorizer. It returns Success or the CONNACK reason code.
func (c *conn) validateConnect(cp *mqtt.Connect) (assigned bool, rc mqtt.ReasonCode) {
	// First, so that a CONNECT flood costs no password hashing.
	if !c.s.lim.connectAllowed() {
		return false, mqtt.ConnectionRateExceeded
	}
	if !c.s.lim.clientIDOK(cp.ClientID) {
		return false, mqtt.ClientIdentifierNotValid
	}
	if cp.ClientID == "" {
		switch {
		case cp.Version == mqtt.V31:
			return false, mqtt.ClientIdentifierNotValid
		case cp.Version == mqtt.V311 && !cp.CleanStart:
			return false, mqtt.ClientIdentifierNotValid // [MQTT-3.1.3-8]
		}
		cp.ClientID = "auto-" + uuid.NewString() // [MQTT-3.1.3-6]
		assigned = true
	}
	if cp.Version == mqtt.V31 && len(cp.ClientID) > 23 {
		return false, mqtt.ClientIdentifierNotValid
	}
	if cp.Properties.AuthMethod != nil {
		return false, mqtt.BadAuthenticationMethod // no extended authentication
	}
	ci := ConnectInfo{ClientInfo: c.infoFor(cp), Password: cp.Password, HasPassword: cp.PasswordFlag}
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		ci.TLS = &st
	}
	user, err := c.s.cfg.Auth.Connect(c.ctx, ci)
	switch {
	case err == nil:
		cp.Username = user // the identity the Authorizer settled on
		return assigned, c.checkWill(cp)
	case errors.Is(err, ErrBadCredentials):
		return false, mqtt.BadUsernameOrPassword
	default:
		return false, mqtt.NotAuthorized
	}
}

// checkWill applies the topic limits and the ACL to the will at CONNECT,
// as Mosquitto does: a will the client may not publish is refused now,
// not dropped when it is due (the session service may publish it then).
func (c *conn) checkWill(cp *mqtt.Connect) mqtt.ReasonCode {
	if cp.Will == nil {
		return mqtt.Success
	}
	if c.s.lim.checkTopic(cp.Will.Topic) != nil {
		return mqtt.TopicNameInvalid
	}
	if !c.s.cfg.Auth.Publish(c.ctx, c.infoFor(cp), cp.Will.Topic) {
		c.s.lim.denied.WithLabelValues("will").Inc()
		return mqtt.NotAuthorized
	}
	return mqtt.Success
}

func (c *conn) infoFor(cp *mqtt.Connect) ClientInfo {
	return ClientInfo{ClientID: cp.ClientID, Username: cp.Username, Peer: c.nc.RemoteAddr(), Protocol: byte(cp.Version)}
}

// writeNow writes one packet directly: only before the writer starts.
func (c *conn) writeNow(p mqtt.Packet) error {
	buf, err := mqtt.AppendPacket(nil, p, c.version)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(buf); err != nil {
		return fmt.Errorf("write %s: %w", p.Type(), err)
	}
	return nil
}

// refuse answers CONNECT with a failure code and logs the rejected op.
func (c *conn) refuse(cp *mqtt.Connect, rc mqtt.ReasonCode, why string) {
	_ = c.writeNow(&mqtt.Connack{ReasonCode: rc})
	c.nc.Close()
	c.s.m.connects.WithLabelValues(rc.Error()).Inc()
	c.log.Info("connection refused", "peer", c.nc.RemoteAddr(), "reason", why)
	code := byte(rc)
	if c.version != mqtt.V5 {
		code = byte(mqtt.ReturnCodeFor(rc))
	}
	if _, err := c.appendOp(c.ctx, func() *session.Op {
		return &session.Op{Kind: session.OpRejected, Proto: byte(cp.Version), Connack: code,
			Username: cp.Username, Peer: c.nc.RemoteAddr().String(), Reason: why}
	}); err != nil {
		c.log.Warn("log rejected connect", "client", cp.ClientID, "err", err)
	}
}

// sessionExpiry is the effective expiry in seconds after defaults and caps.
func (c *conn) sessionExpiry(cp *mqtt.Connect) uint32 {
	cfg := &c.s.cfg
	var exp uint32
	if cp.Version == mqtt.V5 {
		if cp.Properties.SessionExpiry != nil {
			exp = *cp.Properties.SessionExpiry
		}
	} else if !cp.CleanStart {
		exp = uint32(cfg.DefaultExpiry / time.Second)
	}
	if cfg.MaxExpiry > 0 && exp > uint32(cfg.MaxExpiry/time.Second) {
		exp = uint32(cfg.MaxExpiry / time.Second)
	}
	return exp
}

// connect validates CONNECT, logs it, waits for the session service to
// apply it and answers CONNACK. It reports false when the connection ended.
func (c *conn) connect(cp *mqtt.Connect) (session.State, bool) {
	c.version = cp.Version
	c.username = cp.Username
	assigned, rc := c.validateConnect(cp)
	c.clientID = cp.ClientID
	c.info = c.infoFor(cp)
	c.log = c.log.With("client", c.clientID, "conn", c.id)
	if rc != mqtt.Success {
		c.refuse(cp, rc, rc.Error())
		return session.State{}, false
	}
	select {
	case <-c.s.readyCh:
	case <-time.After(c.s.cfg.ConnectTimeout):
		c.refuse(cp, mqtt.ServerUnavailable, "frontend not ready")
		return session.State{}, false
	}
	c.connExp = c.sessionExpiry(cp)
	c.expiry = c.connExp
	ka := cp.KeepAlive
	serverKA := false
	// Only MQTT 5 can be told a shorter keep alive (Server Keep Alive); a
	// 3.1.x client pings at its own pace, so capping it would cut it off.
	if m := c.s.cfg.MaxKeepAlive; m > 0 && cp.Version == mqtt.V5 && (ka == 0 || int(ka) > m) {
		ka, serverKA = uint16(m), true
	}
	if ka > 0 {
		c.keepAlive = time.Duration(ka) * 1500 * time.Millisecond
	}

	c.s.expect(c)
	rec, err := c.appendOp(c.withConnSpan(c.ctx), func() *session.Op {
		op := &session.Op{Kind: session.OpConnect, Proto: byte(cp.Version), Clean: cp.CleanStart,
			Expiry: c.connExp, Keepalive: ka, Username: cp.Username, Peer: c.nc.RemoteAddr().String(), Inc: c.inc}
		if cp.Properties.ReceiveMaximum != nil {
			op.ReceiveMax = *cp.Properties.ReceiveMaximum
		}
		if w := cp.Will; w != nil {
			op.Will = &session.Will{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain,
				Props: mqtt.AppendProperties(nil, &w.Properties)}
			if w.Properties.WillDelay != nil {
				op.Will.Delay = *w.Properties.WillDelay
			}
		}
		return op
	})
	if err != nil {
		c.s.unexpect(c)
		c.log.Warn("log connect", "err", err)
		_ = c.writeNow(&mqtt.Connack{ReasonCode: mqtt.ServerUnavailable})
		c.nc.Close()
		c.s.m.connects.WithLabelValues("server_unavailable").Inc()
		return session.State{}, false
	}
	c.epoch.Store(rec.Offset)
	if !c.s.register(c) {
		// A newer CONNECT for this ClientID was logged, and read by the
		// takeover watch, before this one's append returned.
		c.killNow(ErrTakenOver)
		c.finish()
		return session.State{}, false
	}

	wctx, cancel := context.WithTimeout(c.withConnSpan(c.ctx), opTimeout)
	st, err := c.waitApplied(wctx, rec.Offset)
	cancel()
	if err != nil {
		if errors.Is(err, session.ErrSuperseded) {
			c.killNow(ErrTakenOver)
		} else {
			c.log.Warn("wait for session", "err", err)
			_ = c.writeNow(&mqtt.Connack{ReasonCode: mqtt.ServerUnavailable})
			c.killNow(fmt.Errorf("wait for session: %w", ErrKafkaUnavailable))
		}
		c.finish()
		return session.State{}, false
	}

	ack := &mqtt.Connack{SessionPresent: st.Present}
	window := c.s.cfg.ReceiveMaximum
	c.out = newOutbox(window, c.s.cfg.MaxPending)
	if cp.Version == mqtt.V5 {
		pr := &ack.Properties
		pr.ReceiveMaximum = mqtt.Ptr(uint16(c.s.cfg.ReceiveMaximum))
		pr.RetainAvailable = mqtt.Ptr(byte(1))
		pr.WildcardSubAvailable = mqtt.Ptr(byte(1))
		pr.SubIDAvailable = mqtt.Ptr(byte(1))
		pr.SharedSubAvailable = mqtt.Ptr(byte(1))
		pr.TopicAliasMaximum = mqtt.Ptr(uint16(c.s.cfg.TopicAliasMaximum))
		pr.MaximumPacketSize = mqtt.Ptr(uint32(c.s.cfg.MaxPacketSize))
		if assigned {
			pr.AssignedClientID = mqtt.Ptr(c.clientID)
		}
		if serverKA {
			pr.ServerKeepAlive = mqtt.Ptr(ka)
		}
		if cp.Properties.SessionExpiry != nil && *cp.Properties.SessionExpiry != c.connExp {
			pr.SessionExpiry = mqtt.Ptr(c.connExp)
		}
		if cp.Properties.RequestResponseInfo != nil && *cp.Properties.RequestResponseInfo == 1 {
			pr.ResponseInfo = mqtt.Ptr("response/" + c.clientID + "/")
		}
		c.out.window = 65535
		if cp.Properties.ReceiveMaximum != nil {
			c.out.window = int(*cp.Properties.ReceiveMaximum)
		}
		if cp.Properties.TopicAliasMaximum != nil {
			c.out.aliasMax = *cp.Properties.TopicAliasMaximum
		}
		if cp.Properties.MaximumPacketSize != nil {
			c.out.maxPacket = int(*cp.Properties.MaximumPacketSize)
		}
	}
	c.out.control(ack)
	c.connacked.Store(true)
	c.s.m.connects.WithLabelValues("accepted").Inc()
	return st, true
}

// run serves a connected client until the connection ends.
func (c *conn) run(r *mqtt.Reader, cp *mqtt.Connect, st session.State) {
	var plain []session.Subscription
	for _, sub := range st.Subscriptions {
		c.subs[sub.Filter] = sub
		if isShared(sub.Filter) {
			c.route(sub)
		} else {
			plain = append(plain, sub)
		}
	}
	sw := c.s.router.attach(c, plain)
	c.log.Debug("session attached", "present", st.Present, "epoch", st.Epoch, "subs", len(st.Subscriptions),
		"cursor", st.Cursor, "qfrom", st.QueueFrom, "inflight", st.Inflight, "queue", st.Queue, "sw", sw)
	c.out.restore(&st, sw)

	c.q2init = st.QoS2In
	c.wg.Add(2)
	go c.writeLoop()
	go c.replay(st, sw)
	c.attached.Store(true)

	err := c.readLoop(r)
	c.s.lim.readFailed(err, false)
	if _, _, send := closeReason(err); send {
		c.kill(err)
	} else {
		c.setCause(err)
	}
	c.finish()
}

// readLoop decodes packets until an error ends the connection.
func (c *conn) readLoop(r *mqtt.Reader) error {
	for {
		if c.keepAlive > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive))
		} else {
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		// kill sets the cause, then a past read deadline; checking after
		// our own deadline was set means neither order is missed.
		select {
		case <-c.dead:
			return c.cause()
		default:
		}
		p, err := r.ReadPacket(c.version)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return ErrKeepAlive
			}
			return fmt.Errorf("read packet: %w", err)
		}
		if err := c.handle(p); err != nil {
			return err
		}
	}
}

// handle acts on one packet from the client.
func (c *conn) handle(p mqtt.Packet) error {
	switch p := p.(type) {
	case *mqtt.Publish:
		return c.onPublish(p)
	case *mqtt.Puback:
		c.out.puback(p.PacketID)
	case *mqtt.Pubrec:
		if c.out.pubrec(p.PacketID, p.ReasonCode) {
			// The pubrec state must be in the log before the client can see
			// PUBREL: a resume from an older state would send the PUBLISH
			// again after the client completed it, a duplicate.
			if err := c.retry("progress", func(ctx context.Context) error { return c.logProgress(ctx) }); err != nil {
				return err
			}
			if !c.out.control(&mqtt.Pubrel{PacketID: p.PacketID}) {
				return ErrSlowConsumer
			}
		}
	case *mqtt.Pubcomp:
		c.out.pubcomp(p.PacketID)
	case *mqtt.Pubrel:
		return c.toPump(inbound{rel: p.PacketID})
	case *mqtt.Subscribe:
		return c.onSubscribe(p)
	case *mqtt.Unsubscribe:
		return c.onUnsubscribe(p)
	case *mqtt.Pingreq:
		if !c.out.control(&mqtt.Pingresp{}) {
			return ErrSlowConsumer
		}
	case *mqtt.Disconnect:
		return c.onDisconnect(p)
	default:
		// A second CONNECT [MQTT-3.1.0-2], AUTH without an auth method,
		// or a server-only packet.
		return fmt.Errorf("unexpected %s: %w", p.Type(), mqtt.ProtocolError)
	}
	return nil
}

func (c *conn) onDisconnect(p *mqtt.Disconnect) error {
	if se := p.Properties.SessionExpiry; se != nil {
		if c.connExp == 0 && *se != 0 {
			return fmt.Errorf("session expiry set at disconnect: %w", mqtt.ProtocolError) // [MQTT-3.14.2-2]
		}
		exp := *se
		if m := c.s.cfg.MaxExpiry; m > 0 && exp > uint32(m/time.Second) {
			exp = uint32(m / time.Second)
		}
		c.errMu.Lock()
		c.expiry = exp
		c.errMu.Unlock()
	}
	// The session service publishes the will unless the code is 0x00
	// [MQTT-3.14.4-3]; the disconnect op carries it.
	return clientDisconnect(p.ReasonCode)
}

func (c *conn) onPublish(p *mqtt.Publish) error {
	if a := p.Properties.TopicAlias; a != nil {
		if *a == 0 || int(*a) > c.s.cfg.TopicAliasMaximum {
			return fmt.Errorf("topic alias %d: %w", *a, mqtt.TopicAliasInvalid)
		}
		if c.inAliases == nil {
			c.inAliases = make(map[uint16]string)
		}
		if p.Topic == "" {
			t, ok := c.inAliases[*a]
			if !ok {
				return fmt.Errorf("unknown topic alias %d: %w", *a, mqtt.ProtocolError)
			}
			p.Topic = t
		} else {
			c.inAliases[*a] = p.Topic
		}
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		return fmt.Errorf("publish topic: %w: %w", mqtt.TopicNameInvalid, err)
	}
	if err := c.s.lim.checkTopic(p.Topic); err != nil {
		return fmt.Errorf("publish topic: %w: %w", mqtt.TopicNameInvalid, err)
	}
	if err := c.publishPace(); err != nil {
		return err
	}
	c.s.m.messagesIn.WithLabelValues(qosLabel[p.QoS&3]).Inc()
	c.s.m.bytesIn.Add(float64(len(p.Payload)))
	if c.version == mqtt.V5 && (p.QoS == 1 || (p.QoS == 2 && !p.Dup)) {
		if int(c.inQuota.Add(1)) > c.s.cfg.ReceiveMaximum {
			c.s.lim.hit(limitInflight)
			return fmt.Errorf("inbound publish window: %w", mqtt.ReceiveMaximumExceeded) // [MQTT-3.3.4-7]
		}
	}
	if !c.s.cfg.Auth.Publish(c.ctx, c.info, p.Topic) {
		// MQTT 5 answers with a reason code; 3.1.1 acknowledges and drops.
		c.s.lim.denied.WithLabelValues("publish").Inc()
		return c.toPump(inbound{pub: p, denied: true})
	}
	return c.toPump(inbound{pub: p})
}

// publishPace holds the reader until the connection's next publish token
// is due: a client over PublishRate is slowed by TCP flow control, and
// none of its messages is dropped.
func (c *conn) publishPace() error {
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

func (c *conn) toPump(in inbound) error {
	if c.pumpCh == nil {
		c.pumpCh = make(chan inbound, pumpBatch)
		c.wg.Add(1)
		go c.pumpLoop(c.q2init)
	}
	select {
	case c.pumpCh <- in:
		return nil
	case <-c.dead:
		return c.cause()
	}
}

// grantedCode is the SUBACK code for a granted QoS (0x00-0x02).
func grantedCode(q byte) mqtt.ReasonCode { return mqtt.ReasonCode(q) }

func (c *conn) onSubscribe(p *mqtt.Subscribe) error {
	codes := make([]mqtt.ReasonCode, len(p.Subscriptions))
	var subID uint32
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		subID = ids[0]
	}
	var granted []session.Subscription
	quota := c.newSubQuota()
	for i, s := range p.Subscriptions {
		_, filter, shared, err := topic.ParseShared(s.Filter)
		switch {
		case err != nil:
			codes[i] = mqtt.TopicFilterInvalid
		case shared && s.NoLocal:
			return fmt.Errorf("no local on shared subscription: %w", mqtt.ProtocolError) // [MQTT-3.8.3-4]
		case topic.ValidateFilter(filter) != nil, c.s.lim.checkTopic(filter) != nil:
			codes[i] = mqtt.TopicFilterInvalid
		case !c.s.cfg.Auth.Subscribe(c.ctx, c.info, filter):
			c.s.lim.denied.WithLabelValues("subscribe").Inc()
			codes[i] = mqtt.NotAuthorized
		case !quota.take(s.Filter):
			codes[i] = mqtt.QuotaExceeded
		default:
			codes[i] = grantedCode(s.QoS)
			// Shared subscriptions keep their $share/{group}/ prefix in
			// the session: it is what the client subscribed to.
			granted = append(granted, session.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
				RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubID: subID})
		}
	}
	if len(granted) > 0 {
		// The live positions before the subscription joins the router: the
		// session service keeps them as the cursor of partitions that have
		// none yet, so a takeover before this connection's first progress op
		// still replays from where the subscription began.
		from := c.s.router.positions()
		if err := c.op(func() *session.Op { return &session.Op{Kind: session.OpSubscribe, Subs: granted, Cursor: from} }); err != nil {
			c.log.Warn("log subscribe", "err", err)
			for i := range codes {
				if !codes[i].IsError() {
					codes[i] = mqtt.UnspecifiedError
				}
			}
			granted = nil
		}
	}
	var isNew []bool
	c.subMu.Lock()
	for _, s := range granted {
		_, had := c.subs[s.Filter]
		isNew = append(isNew, !had)
		c.subs[s.Filter] = s
	}
	c.subMu.Unlock()
	for _, s := range granted {
		c.route(s)
	}
	if !c.out.control(&mqtt.Suback{PacketID: p.PacketID, ReasonCodes: codes}) {
		return ErrSlowConsumer
	}
	for i, s := range granted {
		if isShared(s.Filter) {
			continue // a new shared subscription gets no retained messages (MQTT 5.0 4.8.2)
		}
		if s.RetainHandling == 0 || (s.RetainHandling == 1 && isNew[i]) {
			c.s.retained.deliver(c, s)
		}
	}
	return nil
}

// subQuota applies MaxSubscriptions to one SUBSCRIBE: a filter the session
// holds already (or named twice) replaces itself and needs no slot.
type subQuota struct {
	c     *conn
	held  int
	fresh map[string]bool
}

func (c *conn) newSubQuota() *subQuota {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	return &subQuota{c: c, held: len(c.subs)}
}

func (q *subQuota) take(filter string) bool {
	limit := q.c.s.cfg.Limits.MaxSubscriptions
	if limit <= 0 || q.fresh[filter] {
		return true
	}
	q.c.subMu.Lock()
	_, had := q.c.subs[filter]
	q.c.subMu.Unlock()
	if had {
		return true
	}
	if q.held >= limit {
		q.c.s.lim.hit(limitSubscriptions)
		return false
	}
	if q.fresh == nil {
		q.fresh = make(map[string]bool)
	}
	q.fresh[filter] = true
	q.held++
	return true
}

func (c *conn) onUnsubscribe(p *mqtt.Unsubscribe) error {
	codes := make([]mqtt.ReasonCode, len(p.Filters))
	if err := c.op(func() *session.Op { return &session.Op{Kind: session.OpUnsubscribe, Filters: p.Filters} }); err != nil {
		c.log.Warn("log unsubscribe", "err", err)
		for i := range codes {
			codes[i] = mqtt.UnspecifiedError
		}
	} else {
		for i, f := range p.Filters {
			c.subMu.Lock()
			_, had := c.subs[f]
			delete(c.subs, f)
			c.subMu.Unlock()
			if group, inner, shared, _ := topic.ParseShared(f); shared {
				if had {
					c.s.shares.leave(c, group, inner, nil)
				}
			} else {
				c.s.router.unsubscribe(c, f)
			}
			if !had {
				codes[i] = mqtt.NoSubscriptionExisted
			}
		}
	}
	if c.version != mqtt.V5 {
		codes = nil
	}
	if !c.out.control(&mqtt.Unsuback{PacketID: p.PacketID, ReasonCodes: codes}) {
		return ErrSlowConsumer
	}
	return nil
}

// leaveShares hands the connection's unfinished shared deliveries to the
// other local members and leaves its shared subscriptions.
func (c *conn) leaveShares() {
	unfinished := c.out.unfinishedShared()
	c.subMu.Lock()
	var filters []string
	for f := range c.subs {
		if isShared(f) {
			filters = append(filters, f)
		}
	}
	c.subMu.Unlock()
	for _, f := range filters {
		if group, inner, shared, _ := topic.ParseShared(f); shared {
			c.s.shares.leave(c, group, inner, unfinished)
		}
	}
}

// isShared reports whether a session filter is a shared subscription.
func isShared(filter string) bool { return strings.HasPrefix(filter, topic.SharePrefix) }

// route puts one subscription into live delivery: the router for plain
// filters, the share's consumer group for shared ones.
func (c *conn) route(s session.Subscription) {
	group, inner, shared, err := topic.ParseShared(s.Filter)
	switch {
	case err != nil:
	case shared:
		s.Filter = inner
		c.s.shares.join(c, group, s)
	default:
		c.s.router.subscribe(c, s)
	}
}

// matchSubs aggregates the session's subscriptions matching msg, for replay.
func (c *conn) matchSubs(msg *message) match {
	var m match
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for _, s := range c.subs {
		if !isShared(s.Filter) && topic.Match(s.Filter, msg.topic) {
			m.add(msg, c.clientID, s)
		}
	}
	if m.ok && !c.mayRead(msg.topic) {
		return match{}
	}
	return m
}

// mayRead applies the Authorizer's per-message read check, if it has one.
func (c *conn) mayRead(topic string) bool {
	rc, ok := c.s.cfg.Auth.(ReadChecker)
	return !ok || rc.Read(c.ctx, c.info, topic)
}

// finish runs once when the connection ends: it stops delivery and logs
// the final progress and the disconnect op (the session service publishes
// the will from there).
func (c *conn) finish() {
	c.killers.Do(func() {
		err := c.cause()
		reason, code, _ := closeReason(err)
		c.finalPos = c.s.router.remove(c)
		if c.lastWord.Load() {
			select {
			case <-c.writerDone:
			case <-time.After(2 * time.Second):
			}
		}
		if c.pumpCh != nil {
			// The reader is done: let the pump log what the client sent
			// before its end (a QoS 0 PUBLISH right before DISCONNECT).
			close(c.pumpCh)
			select {
			case <-c.pumpDone:
			case <-time.After(opTimeout):
			}
		}
		c.attached.Store(false)
		c.progressMu.Lock() // waits for a periodic progress op being logged; never released
		c.cancel()          // stops the replayer and the writer
		if c.out != nil {
			c.out.close()
			c.endUnacked() // before leaveShares hands unacked shared deliveries on
			c.leaveShares()
		}
		c.wg.Wait()
		c.s.m.disconnects.WithLabelValues(reason).Inc()
		switch reason {
		case session.ReasonSlowConsumer:
			c.s.m.slowConsumers.Inc()
			c.s.lim.hit(limitPending)
		case session.ReasonTakenOver:
			c.s.m.takeovers.Inc()
		}
		c.errMu.Lock()
		exp := c.expiry
		c.errMu.Unlock()
		if c.epoch.Load() >= 0 {
			// Log the final state before closing the socket: a client that
			// waits for the close and reconnects must find it applied.
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			if c.out != nil {
				c.sendProgress(ctx, nil, true)
			}
			if _, err := c.appendOp(ctx, func() *session.Op {
				return &session.Op{Kind: session.OpDisconnect, Reason: reason, Code: byte(code), Expiry: exp}
			}); err != nil {
				c.log.Warn("log disconnect", "err", err)
			}
			cancel()
		}
		c.nc.Close()
		c.s.unregister(c)
		if c.epoch.Load() < 0 {
			return
		}
		// The one line per session connection at info: its end and why.
		c.log.Info("connection ended", "reason", reason, "err", err)
	})
}
