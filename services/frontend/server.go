// Package frontend is the MQTT frontend of the broker: it terminates MQTT
// 3.1, 3.1.1 and 5.0 connections over TCP, TLS, WebSocket and secure
// WebSocket, logs every PUBLISH to Kafka before acknowledging it, delivers
// the messages topic live to its locally connected subscribers, and replays
// a resumed session's undelivered messages from the log.
//
// A frontend holds only live connection state. Session state changes are
// ops appended to the sessions topic; the session service applies them to
// the Redis view, which the frontend only reads at CONNECT. Takeover across
// frontends follows from watching the connect ops: the newer epoch wins.
package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
	"github.com/tidemarkmq/tidemark/pkg/startup/leanmem"
	"github.com/tidemarkmq/tidemark/services/frontend/wsnet"
)

// appender is the part of kafkalog.Appender the server uses; tests of the
// connection engine substitute an in-memory log.
type appender interface {
	Append(ctx context.Context, recs ...*kafkalog.Record) error
	Close() error
}

// sessionReader is the part of session.Reader the server uses.
type sessionReader interface {
	WaitApplied(ctx context.Context, clientID string, epoch int64) (session.State, error)
}

// Server is one frontend node.
type Server struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	lim     *limiter
	tls     *tls.Config
	app     appender
	rdb     redis.UniversalClient
	ownRdb  bool // dialled here, so closed here
	reader  sessionReader
	applied *session.AppliedWatch // wakes the reader's waits (announcements)
	router  *router
	// onMessage is the messages follower's handler: the router's dispatch
	// (tests hold it back to play a frontend whose follower lags).
	onMessage func(*kafkalog.Record)
	retained  *retainedStore
	opsSeen   *opWatermark // how far the takeover watch has read the sessions topic
	shares    *shares

	mu       sync.Mutex
	clients  map[string]*conn   // by ClientID, once the connect op is logged
	logging  map[string][]*conn // by ClientID, while the connect op is being logged
	conns    map[*conn]struct{} // every open connection
	draining bool
	connWG   sync.WaitGroup  // connections, from accept to the end of their end
	laneWG   sync.WaitGroup  // append lanes' goroutines (lane.go)
	replayWG sync.WaitGroup  // replayers (replay.go)
	heart    *liveness.Heart // this process's incarnation on the nodes topic

	addrMu sync.Mutex
	addrs  map[string]net.Addr

	readyCh chan struct{} // closed once the followers caught up
	ready   atomic.Bool   // readyCh closed and listeners bound
}

// New checks cfg and builds a Server; Run starts it.
func New(cfg Config) (*Server, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	rdb, own := cfg.RedisClient, false
	if rdb == nil {
		rdb, own = redis.NewClient(&redis.Options{Addr: cfg.Redis}), true
	}
	opt := session.Options{Prefix: cfg.KeyPrefix}
	reader := session.NewReaderOptions(rdb, opt)
	applied := session.NewAppliedWatch(rdb, opt, cfg.Logger.With("node", cfg.Node))
	reader.Watch(applied)
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.Node),
		m:        newMetrics(cfg.Registry),
		lim:      newLimiter(cfg.Limits),
		tls:      tc,
		app:      kafkalog.NewAppender(cfg.Kafka, kafkalog.AppenderOptions{Logger: cfg.Logger}),
		rdb:      rdb,
		ownRdb:   own,
		reader:   newSessionView(reader, cfg.Kafka, cfg.Topics.Sessions),
		applied:  applied,
		router:   newRouter(),
		retained: newRetainedStore(),
		opsSeen:  newOpWatermark(),
		clients:  make(map[string]*conn),
		logging:  make(map[string][]*conn),
		conns:    make(map[*conn]struct{}),
		addrs:    make(map[string]net.Addr),
		readyCh:  make(chan struct{}),
	}
	s.onMessage = s.router.dispatch
	s.router.delay = s.m.dispatchDelay
	s.shares = newShares(s)
	s.heart = s.newHeart()
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.lim.collectors()...)
	}
	s.m.observe(s, cfg.Registry)
	return s, nil
}

// Addr returns the bound address of a listener ("mqtt", "ws", "tls",
// "wss"), or nil when it is off or not bound yet.
func (s *Server) Addr(listener string) net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addrs[listener]
}

// Ready reports whether the frontend serves: listeners bound, live
// dispatch positioned, retained messages loaded.
func (s *Server) Ready() bool { return s.ready.Load() }

// drainTimeout bounds the graceful end of the connections at shutdown.
const drainTimeout = 10 * time.Second

// Run listens and serves until ctx ends, then drains: it stops accepting,
// sends MQTT 5 clients DISCONNECT 0x8B (3.1.x connections are closed),
// logs their progress and disconnect ops, and returns.
func (s *Server) Run(ctx context.Context) error {
	if s.ownRdb {
		defer s.rdb.Close()
	}

	lns, err := s.listen()
	if err != nil {
		_ = s.app.Close()
		return err
	}
	fctx, stopFollowers := context.WithCancel(context.Background())
	var fwg sync.WaitGroup
	followers := s.followers()
	s.m.followers.Store(&followers)
	for _, f := range followers {
		fwg.Add(1)
		go func() { defer fwg.Done(); _ = f.Run(fctx) }()
	}
	go s.becomeReady(ctx, followers)
	pctx, stopProgress := context.WithCancel(context.Background())
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); s.progressLoop(pctx) }()
	// The heart beats until the connections are drained: a frontend that
	// is still ending them is alive.
	heartDone := make(chan struct{})
	go func() { defer close(heartDone); s.heart.Run(pctx) }()
	appliedDone := make(chan struct{})
	go func() { defer close(appliedDone); s.applied.Run(pctx) }()
	leanDone := make(chan struct{})
	lean := leanmem.New(leanmem.Options{LeanPercent: s.cfg.LeanGCPercent, Logger: s.log})
	go func() { defer close(leanDone); lean.Run(pctx) }()

	var lwg sync.WaitGroup
	for _, l := range lns {
		lwg.Add(1)
		go func() { defer lwg.Done(); l.serve() }()
	}

	<-ctx.Done()
	s.ready.Store(false)
	for _, l := range lns {
		l.close()
	}
	lwg.Wait()
	s.drain()
	// Every connection ended; what their ends started is joined too.
	s.replayWG.Wait()
	s.laneWG.Wait()
	s.shares.stopAll()
	stopProgress()
	<-progressDone
	<-heartDone
	<-appliedDone
	<-leanDone
	stopFollowers()
	fwg.Wait()
	s.signOff()
	if err := s.app.Close(); err != nil {
		s.log.Warn("close appender", "err", err)
	}
	return nil
}

// followers builds the three topic followers: messages (live delivery,
// from the end), retained (from the beginning), sessions (takeover, from
// the end).
func (s *Server) followers() []*kafkalog.Follower {
	t := s.cfg.Topics
	return []*kafkalog.Follower{
		kafkalog.NewFollower(s.cfg.Kafka, kafkalog.FollowerOptions{Topic: t.Messages, Default: kafkalog.Latest, Logger: s.log}, s.onMessage),
		kafkalog.NewFollower(s.cfg.Kafka, kafkalog.FollowerOptions{Topic: t.Retained, Default: kafkalog.Earliest, Logger: s.log}, s.retained.apply),
		kafkalog.NewFollower(s.cfg.Kafka, kafkalog.FollowerOptions{Topic: t.Sessions, Default: kafkalog.Latest, Logger: s.log}, s.onSessionOp),
	}
}

// becomeReady waits for the incarnation's announcement (no connect op may
// name it before), for the followers to position themselves and for the
// retained copy to catch up, then opens CONNECT handling.
func (s *Server) becomeReady(ctx context.Context, fs []*kafkalog.Follower) {
	ready := []<-chan struct{}{s.heart.Announced()}
	for _, f := range fs {
		ready = append(ready, f.Ready())
	}
	for _, ch := range ready {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
	s.router.setStart(fs[0].Positions())
	var ends map[int]kafkalog.Bounds
	for ends == nil {
		b, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Retained)
		if err == nil {
			ends = b
			break
		}
		s.log.Warn("retained topic bounds", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !s.retained.caughtUp(ends) {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
	close(s.readyCh)
	s.ready.Store(true)
	s.log.Info("frontend ready")
}

// onSessionOp watches connect ops for takeover: a connect for a ClientID
// connected here with a lower epoch closes that connection. Operators'
// ops are handed to onAdminOp.
func (s *Server) onSessionOp(rec *kafkalog.Record) {
	// Marked seen only after any takeover below was acted on (see opWatermark).
	defer s.opsSeen.advance(rec.Partition, rec.Offset+1)
	switch h, _ := rec.Header(session.HeaderOp); string(h) {
	case session.OpConnect:
	case session.OpNodeDown:
		s.onNodeDown(rec)
		return
	default:
		s.onAdminOp(rec, string(h))
		return
	}
	cid := string(rec.Key)
	s.log.Debug("connect op seen", "client", cid, "offset", rec.Offset)
	s.mu.Lock()
	c := s.clients[cid]
	for _, pc := range s.logging[cid] {
		pc.newestSeen = max(pc.newestSeen, rec.Offset)
	}
	s.mu.Unlock()
	if c != nil {
		if e := c.epoch.Load(); e >= 0 && e < rec.Offset {
			c.logger().Debug("taken over", "epoch", e, "by", rec.Offset)
			traceTakeover(c, context.Background(), rec)
			c.kill(ErrTakenOver)
		}
	}
}

// track adds a new connection unless the server is draining.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// expect notes that c is about to log its connect op, under the current
// incarnation. The takeover watch may read a newer CONNECT for the same
// ClientID before c's append returns and c knows its epoch; expect makes
// the watch record it on c, so that register can refuse c instead of
// leaving two live connections.
func (s *Server) expect(c *conn) {
	s.mu.Lock()
	c.newestSeen = -1
	c.inc = s.heart.Inc()
	s.logging[c.clientID] = append(s.logging[c.clientID], c)
	s.mu.Unlock()
}

// unexpectLocked undoes expect; the caller holds s.mu.
func (s *Server) unexpectLocked(c *conn) {
	list := s.logging[c.clientID]
	for i, pc := range list {
		if pc == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.logging, c.clientID)
	} else {
		s.logging[c.clientID] = list
	}
}

// unexpect undoes expect after a failed append.
func (s *Server) unexpect(c *conn) {
	s.mu.Lock()
	s.unexpectLocked(c)
	s.mu.Unlock()
}

// register makes c, whose connect op is logged, the local connection of
// its ClientID; an older one is taken over at once (the sessions follower
// would do the same a little later). It returns false when the takeover
// watch has already read a newer connect op for the ClientID: c is the
// one taken over.
func (s *Server) register(c *conn) bool {
	epoch := c.epoch.Load()
	s.mu.Lock()
	s.unexpectLocked(c)
	old := s.clients[c.clientID]
	newest := c.newestSeen
	if old != nil && old != c {
		newest = max(newest, old.epoch.Load())
	}
	if newest > epoch {
		s.mu.Unlock()
		c.logger().Debug("taken over while logging its connect", "epoch", epoch, "by", newest)
		return false
	}
	s.clients[c.clientID] = c
	s.mu.Unlock()
	if old != nil && old != c {
		traceTakeover(old, c.withConnSpan(context.Background()), nil)
		old.kill(ErrTakenOver)
	}
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	if s.clients[c.clientID] == c {
		delete(s.clients, c.clientID)
	}
	s.mu.Unlock()
}

// drain ends every connection with ErrShutdown and waits (bounded).
func (s *Server) drain() {
	s.mu.Lock()
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.kill(ErrShutdown)
	}
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(drainTimeout):
	}
	// Connections still ending lose their sockets now; their final ops
	// are bounded by opTimeout, so this wait ends too, and none of them
	// outlives Run.
	s.mu.Lock()
	left := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		left = append(left, c)
	}
	s.mu.Unlock()
	s.log.Warn("drain timed out; closing the remaining connections", "connections", len(left))
	for _, c := range left {
		c.kill(ErrShutdown)
		_ = c.nc.Close()
	}
	<-done
}

// listener is one bound listener with its accept loop.
type listener struct {
	serve func()
	close func()
}

func (s *Server) listen() ([]listener, error) {
	var out []listener
	fail := func(err error) ([]listener, error) {
		for _, l := range out {
			l.close()
		}
		return nil, err
	}
	type spec struct {
		name, addr string
		tls, ws    bool
	}
	specs := []spec{
		{"mqtt", s.cfg.MQTTAddr, false, false},
		{"tls", s.cfg.TLSAddr, true, false},
		{"ws", s.cfg.WSAddr, false, true},
		{"wss", s.cfg.WSSAddr, true, true},
	}
	for _, sp := range specs {
		if sp.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			return fail(fmt.Errorf("listen %s on %s: %w", sp.name, sp.addr, err))
		}
		if sp.tls {
			ln = tls.NewListener(ln, s.tls)
		}
		s.addrMu.Lock()
		s.addrs[sp.name] = ln.Addr()
		s.addrMu.Unlock()
		s.log.Info("listening", "listener", sp.name, "addr", ln.Addr().String())
		if sp.ws {
			hs := &http.Server{Handler: wsnet.Handler(s.serveConn), ReadHeaderTimeout: s.cfg.ConnectTimeout}
			out = append(out, listener{
				serve: func() { _ = hs.Serve(ln) },
				close: func() { _ = hs.Close() },
			})
			continue
		}
		out = append(out, listener{
			serve: func() { s.accept(ln) },
			close: func() { _ = ln.Close() },
		})
	}
	return out, nil
}

// accept runs one listener's accept loop until it is closed.
func (s *Server) accept(ln net.Listener) {
	wait := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(wait) // e.g. out of file descriptors: back off
				wait = min(wait*2, time.Second)
				continue
			}
			s.log.Warn("accept", "err", err)
			return
		}
		wait = 5 * time.Millisecond
		go s.serveConn(nc)
	}
}

// serveConn serves one connection from any listener; it returns once the
// connection is refused or handed to its reader (serve).
func (s *Server) serveConn(nc net.Conn) {
	// Refused before the TLS handshake and before a goroutine waits for
	// CONNECT: a full frontend spends as little as it can on the newcomer.
	if !s.lim.acquireConn() {
		nc.Close()
		return
	}
	if tc, ok := nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
		if err := tc.Handshake(); err != nil {
			s.lim.readFailed(err, true) // a handshake that never ends is a slowloris too
			s.log.Debug("tls handshake", "peer", nc.RemoteAddr(), "err", err)
			nc.Close()
			s.lim.releaseConn()
			return
		}
		_ = tc.SetDeadline(time.Time{})
	}
	s.serve(nc, s.lim.releaseConn)
}
