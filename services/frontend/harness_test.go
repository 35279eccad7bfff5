package frontend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// memLog is an in-memory appender: offsets per topic, an outage switch,
// and a signal per append attempt so tests wait on events, not time.
type memLog struct {
	mu       sync.Mutex
	down     bool
	next     map[string]int64
	recs     []*kafkalog.Record
	attempts chan struct{} // one send per Append call (buffered)
	// seen, when set, gets every appended record, as the server's log
	// followers would (the takeover watch of the sessions topic).
	seen func(*kafkalog.Record)
	// hang, when set, holds every Append with a record it picks until
	// unhang is closed or the append's context ends: a log that does not
	// answer.
	hang   func(*kafkalog.Record) bool
	unhang chan struct{}
}

func newMemLog() *memLog {
	return &memLog{next: make(map[string]int64), attempts: make(chan struct{}, 1024)}
}

func (m *memLog) Append(ctx context.Context, recs ...*kafkalog.Record) error {
	defer func() {
		select {
		case m.attempts <- struct{}{}:
		default:
		}
	}()
	m.mu.Lock()
	if hang := m.hang; hang != nil {
		for _, r := range recs {
			if hang(r) {
				unhang := m.unhang
				m.mu.Unlock()
				select {
				case <-unhang:
				case <-ctx.Done():
					return fmt.Errorf("append: %w: %w", kafkalog.ErrUnavailable, ctx.Err())
				}
				m.mu.Lock()
				break
			}
		}
	}
	if m.down {
		m.mu.Unlock()
		return fmt.Errorf("append: %w", kafkalog.ErrUnavailable)
	}
	for _, r := range recs {
		r.Offset = m.next[r.Topic] // from 0, as Kafka: epoch 0 is valid
		m.next[r.Topic]++
		m.recs = append(m.recs, r)
	}
	seen := m.seen
	m.mu.Unlock()
	if seen != nil {
		for _, r := range recs {
			seen(r)
		}
	}
	return nil
}

func (m *memLog) Close() error { return nil }

// holdWhere makes every append with a record that match picks hang until
// unhang is closed, and returns a channel that gets a value when such an
// append has started.
func (m *memLog) holdWhere(match func(*kafkalog.Record) bool) <-chan struct{} {
	held := make(chan struct{}, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unhang = make(chan struct{})
	m.hang = func(r *kafkalog.Record) bool {
		if !match(r) {
			return false
		}
		select {
		case held <- struct{}{}:
		default:
		}
		return true
	}
	return held
}

func (m *memLog) setDown(v bool) {
	m.mu.Lock()
	m.down = v
	m.mu.Unlock()
}

// ops returns the session ops logged so far.
func (m *memLog) ops(t *testing.T) []*session.Op {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*session.Op
	for _, r := range m.recs {
		if r.Topic != DefaultTopics().Sessions {
			continue
		}
		op, err := session.DecodeOp(r)
		if err != nil {
			t.Fatalf("decode op: %v", err)
		}
		out = append(out, op)
	}
	return out
}

// messages returns the records logged to topic.
func (m *memLog) messages(topic string) []*kafkalog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*kafkalog.Record
	for _, r := range m.recs {
		if r.Topic == topic {
			out = append(out, r)
		}
	}
	return out
}

// waitOp waits until an op of kind is logged and returns it.
func (m *memLog) waitOp(t *testing.T, kind string) *session.Op {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, op := range m.ops(t) {
			if op.Kind == kind {
				return op
			}
		}
		select {
		case <-m.attempts:
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no %s op logged", kind)
	return nil
}

// fakeSessions applies every connect at once, as a new session.
type fakeSessions struct{ present bool }

func (f fakeSessions) WaitApplied(_ context.Context, _ string, epoch int64) (session.State, error) {
	return session.State{Epoch: epoch, Present: f.present}, nil
}

// newUnitServer returns a Server over an in-memory log, ready to serve
// connections handed to serveConn; it never touches Kafka or Redis.
func newUnitServer(t *testing.T, mutate func(*Config)) (*Server, *memLog) {
	t.Helper()
	cfg := Config{
		Node:   "test",
		Kafka:  kafkalog.Plain("127.0.0.1:1"),
		Redis:  "127.0.0.1:1",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	log := newMemLog()
	log.seen = func(r *kafkalog.Record) {
		if r.Topic == s.cfg.Topics.Sessions {
			s.onSessionOp(r)
		}
	}
	s.app = log
	s.heart = s.newHeart() // on the in-memory log too
	s.reader = fakeSessions{}
	close(s.readyCh)
	s.router.setStart(map[int]int64{0: 0})
	t.Cleanup(func() { s.rdb.Close() })
	return s, log
}

// pipeClient is the client end of a net.Pipe connection to a Server.
type pipeClient struct {
	t    *testing.T
	nc   net.Conn
	v    mqtt.Version
	pkts chan mqtt.Packet
	errc chan error
	done chan struct{} // closed when the server ended the connection
}

// connOf is the server's connection on nc, nil once it ended.
func (s *Server) connOf(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.nc == nc {
			return c
		}
	}
	return nil
}

func dialPipe(t *testing.T, s *Server, v mqtt.Version) *pipeClient {
	t.Helper()
	cs, ss := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serveConn(ss) // returns once the connection is refused or read by its reader
		if c := s.connOf(ss); c != nil {
			<-c.done
		}
	}()
	return newPacketClient(t, cs, v, done)
}

// dialTCP connects a raw packet client to a listener.
func dialTCP(t *testing.T, addr string, v mqtt.Version) *pipeClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return newPacketClient(t, nc, v, nil)
}

// newPacketClient reads packets from nc into a channel. done, when not
// nil, is closed when the server side ended; cleanup waits for it.
func newPacketClient(t *testing.T, nc net.Conn, v mqtt.Version, done chan struct{}) *pipeClient {
	c := &pipeClient{t: t, nc: nc, v: v, pkts: make(chan mqtt.Packet, 64), errc: make(chan error, 1), done: done}
	go func() {
		r := mqtt.NewReader(nc, 0)
		for {
			p, err := r.ReadPacket(v)
			if err != nil {
				c.errc <- err
				close(c.pkts)
				return
			}
			c.pkts <- p
		}
	}()
	t.Cleanup(func() {
		nc.Close()
		if done == nil {
			return
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("server did not end the connection")
		}
	})
	return c
}

func (c *pipeClient) send(p mqtt.Packet) {
	c.t.Helper()
	b, err := mqtt.AppendPacket(nil, p, c.v)
	if err != nil {
		c.t.Fatalf("encode %s: %v", p.Type(), err)
	}
	c.sendRaw(b)
}

func (c *pipeClient) sendRaw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next packet from the server, or nil when the server
// closed the connection.
func (c *pipeClient) next(within time.Duration) mqtt.Packet {
	c.t.Helper()
	select {
	case p, ok := <-c.pkts:
		if !ok {
			return nil
		}
		return p
	case <-time.After(within):
		c.t.Fatalf("no packet within %s", within)
		return nil
	}
}

// closed waits until the server closed the connection without sending
// anything more.
func (c *pipeClient) closed(within time.Duration) {
	c.t.Helper()
	if p := c.next(within); p != nil {
		c.t.Fatalf("got %s, want the connection closed", p.Type())
	}
	if err := <-c.errc; err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		c.t.Logf("close error: %v", err)
	}
}

func (c *pipeClient) connect(cp *mqtt.Connect) *mqtt.Connack {
	c.t.Helper()
	cp.Version = c.v
	c.send(cp)
	p := c.next(30 * time.Second) // generous: a loaded shared stack

	ack, ok := p.(*mqtt.Connack)
	if !ok {
		c.t.Fatalf("got %v, want CONNACK", p)
	}
	return ack
}
