// Package client is a lean MQTT client for load generation: one read
// goroutine per connection, writes appended to a shared buffer and flushed
// in batches, and no per-message allocation beyond what the codec needs. It
// is not a general-purpose client: there is no reconnect, no persistence of
// in-flight messages and no topic alias handling, because the load tool
// measures a broker rather than surviving one.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Sentinel errors; failures wrap them so callers can count causes.
var (
	// ErrRefused means the broker answered CONNECT with a failure code; the
	// error also wraps the mqtt.ReasonCode.
	ErrRefused = errors.New("connect refused")
	// ErrClosed means the connection ended before the operation finished.
	ErrClosed = errors.New("connection closed")
	// ErrSubscribeFailed means a SUBACK carried a failure code.
	ErrSubscribeFailed = errors.New("subscribe failed")
)

// Options configures one connection. Zero values pick the defaults named on
// each field.
type Options struct {
	Addr     string
	Version  mqtt.Version // default mqtt.V311
	ClientID string
	Clean    bool
	// KeepAlive is sent in CONNECT; the client pings at that interval when it
	// has nothing else to say. 0 disables keep-alive.
	KeepAlive time.Duration
	// SessionExpiry is the MQTT 5 Session Expiry Interval in seconds
	// (ignored for 3.1.1, where a persistent session never expires).
	SessionExpiry uint32
	// ConnectTimeout bounds dial plus CONNACK; default 10s.
	ConnectTimeout time.Duration
	// Inflight bounds unacknowledged QoS 1/2 publishes; default 64. For
	// MQTT 5 it is lowered to the broker's Receive Maximum.
	Inflight int
	// OnPublish is called from the read goroutine for every PUBLISH received,
	// with the time it was decoded. It must not block.
	OnPublish func(p *mqtt.Publish, at time.Time)
	// OnAck is called from the read goroutine when a QoS 1/2 publish of this
	// client completes, with the time it was handed to Publish.
	OnAck func(sent time.Time, code mqtt.ReasonCode)
}

// Conn is one MQTT connection. Publish, Subscribe, Flush and Close are safe
// for concurrent use.
type Conn struct {
	opt            Options
	nc             net.Conn
	v              mqtt.Version
	sessionPresent bool

	// wmu guards out; flushMu serialises writes to nc so that a flush never
	// holds wmu during I/O.
	wmu     sync.Mutex
	out     []byte
	flushMu sync.Mutex
	spare   []byte

	slots chan struct{} // one token per free in-flight slot

	imu      sync.Mutex
	inflight map[uint16]time.Time
	nextID   uint16
	subs     map[uint16]chan *mqtt.Suback

	ping      *time.Timer
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	err       atomic.Pointer[error]
}

// Dial connects, sends CONNECT and waits for CONNACK.
func Dial(ctx context.Context, opt Options) (*Conn, error) {
	if opt.Version == 0 {
		opt.Version = mqtt.V311
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 10 * time.Second
	}
	if opt.Inflight <= 0 {
		opt.Inflight = 64
	}
	d := net.Dialer{Timeout: opt.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &Conn{opt: opt, nc: nc, v: opt.Version, inflight: map[uint16]time.Time{},
		subs: map[uint16]chan *mqtt.Suback{}, done: make(chan struct{})}
	r := mqtt.NewReader(nc, 0)
	// Cancelling ctx interrupts the handshake through the deadline.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	ack, err := c.handshake(r)
	if !stop() && err == nil {
		err = fmt.Errorf("connect: %w", ctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	// The broker may impose its own keep-alive (MQTT 5 Server Keep Alive).
	if ska := ack.Properties.ServerKeepAlive; ska != nil {
		c.opt.KeepAlive = time.Duration(*ska) * time.Second
	}
	c.sessionPresent = ack.SessionPresent
	window := opt.Inflight
	if rm := ack.Properties.ReceiveMaximum; rm != nil && int(*rm) < window {
		window = int(*rm)
	}
	c.slots = make(chan struct{}, window)
	for range window {
		c.slots <- struct{}{}
	}
	if c.opt.KeepAlive > 0 {
		c.ping = time.AfterFunc(c.opt.KeepAlive, c.keepAlive)
	}
	go c.readLoop(r)
	return c, nil
}

func (c *Conn) handshake(r *mqtt.Reader) (*mqtt.Connack, error) {
	cp := &mqtt.Connect{Version: c.v, CleanStart: c.opt.Clean, ClientID: c.opt.ClientID,
		KeepAlive: uint16(min(c.opt.KeepAlive/time.Second, 65535))}
	if c.v == mqtt.V5 {
		if c.opt.SessionExpiry > 0 {
			cp.Properties.SessionExpiry = mqtt.Ptr(c.opt.SessionExpiry)
		}
		cp.Properties.ReceiveMaximum = mqtt.Ptr(uint16(65535))
	}
	if err := c.nc.SetDeadline(time.Now().Add(c.opt.ConnectTimeout)); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	if err := mqtt.WritePacket(c.nc, cp, c.v); err != nil {
		return nil, fmt.Errorf("write connect: %w", err)
	}
	p, err := r.ReadPacket(c.v)
	if err != nil {
		return nil, fmt.Errorf("read connack: %w", err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok {
		return nil, fmt.Errorf("read connack: got %v: %w", p.Type(), mqtt.ProtocolError)
	}
	if ack.ReasonCode.IsError() {
		return nil, fmt.Errorf("%w: %w", ErrRefused, ack.ReasonCode)
	}
	if err := c.nc.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear deadline: %w", err)
	}
	return ack, nil
}

// SessionPresent reports the CONNACK flag: the broker resumed a session.
func (c *Conn) SessionPresent() bool { return c.sessionPresent }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is the reason the connection ended: nil while it is open, ErrClosed
// after Close or when the broker closed the stream cleanly.
func (c *Conn) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// closedErr wraps ErrClosed with the reason the connection ended.
func (c *Conn) closedErr() error {
	if err := c.Err(); err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return ErrClosed
}

func (c *Conn) fail(err error) {
	c.err.CompareAndSwap(nil, &err)
	c.nc.Close()
}

// Subscribe sends one SUBSCRIBE and waits for its SUBACK. Every granted code
// must be a success, else the error wraps ErrSubscribeFailed.
func (c *Conn) Subscribe(ctx context.Context, subs ...mqtt.Subscription) error {
	ch := make(chan *mqtt.Suback, 1)
	c.imu.Lock()
	id := c.allocID()
	c.subs[id] = ch
	c.imu.Unlock()
	defer func() {
		c.imu.Lock()
		delete(c.subs, id)
		c.imu.Unlock()
	}()
	if err := c.append(&mqtt.Subscribe{PacketID: id, Subscriptions: subs}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	select {
	case ack := <-ch:
		for _, rc := range ack.ReasonCodes {
			if rc.IsError() {
				return fmt.Errorf("%w: %w", ErrSubscribeFailed, rc)
			}
		}
		return nil
	case <-c.done:
		return fmt.Errorf("subscribe: %w", c.closedErr())
	case <-ctx.Done():
		return fmt.Errorf("subscribe: %w", ctx.Err())
	}
}

// Publish appends a PUBLISH to the write buffer; call Flush to send it
// (Publish flushes by itself when it must wait for an in-flight slot). For
// QoS 1 and 2 it assigns the packet id and waits while the in-flight window
// is full. sent is reported back through OnAck.
func (c *Conn) Publish(ctx context.Context, p *mqtt.Publish, sent time.Time) error {
	if p.QoS > 0 {
		select {
		case <-c.slots:
		default:
			if err := c.Flush(); err != nil {
				return err
			}
			select {
			case <-c.slots:
			case <-c.done:
				return fmt.Errorf("publish: %w", c.closedErr())
			case <-ctx.Done():
				return fmt.Errorf("publish: %w", ctx.Err())
			}
		}
		c.imu.Lock()
		p.PacketID = c.allocID()
		c.inflight[p.PacketID] = sent
		c.imu.Unlock()
	}
	return c.append(p)
}

// Inflight is the number of QoS 1/2 publishes not yet acknowledged.
func (c *Conn) Inflight() int {
	c.imu.Lock()
	defer c.imu.Unlock()
	return len(c.inflight)
}

// allocID returns a packet id not in use by a publish or subscribe; imu held.
func (c *Conn) allocID() uint16 {
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, busy := c.inflight[c.nextID]; busy {
			continue
		}
		if _, busy := c.subs[c.nextID]; busy {
			continue
		}
		return c.nextID
	}
}

func (c *Conn) append(p mqtt.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	out, err := mqtt.AppendPacket(c.out, p, c.v)
	if err != nil {
		return fmt.Errorf("encode %v: %w", p.Type(), err)
	}
	c.out = out
	return nil
}

// Flush writes everything appended so far, waiting for a flush already in
// progress.
func (c *Conn) Flush() error {
	c.flushMu.Lock()
	err := c.flushLocked()
	c.flushMu.Unlock()
	if err == nil && c.pending() {
		c.tryFlush()
	}
	return err
}

// tryFlush is the read goroutine's flush: it never waits for another
// flusher, so a publisher blocked in a large write cannot stop this
// connection from reading. Whoever holds flushMu re-checks for pending bytes
// after releasing it, so nothing appended meanwhile is left behind.
func (c *Conn) tryFlush() error {
	for c.flushMu.TryLock() {
		err := c.flushLocked()
		c.flushMu.Unlock()
		if err != nil || !c.pending() {
			return err
		}
	}
	return nil
}

func (c *Conn) pending() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.out) > 0
}

// flushLocked writes until the buffer is empty; flushMu held.
func (c *Conn) flushLocked() error {
	for {
		c.wmu.Lock()
		buf := c.out
		c.out = c.spare[:0]
		c.wmu.Unlock()
		if len(buf) == 0 {
			c.spare = buf
			return nil
		}
		if err := c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		_, err := c.nc.Write(buf)
		// Keep the buffer of a burst only while it is modest, so idle
		// connections do not hold large ones.
		if cap(buf) <= 64<<10 {
			c.spare = buf[:0]
		} else {
			c.spare = nil
		}
		if err != nil {
			c.fail(err)
			return fmt.Errorf("flush: %w", err)
		}
		if c.ping != nil {
			c.ping.Reset(c.opt.KeepAlive)
		}
	}
}

func (c *Conn) keepAlive() {
	select {
	case <-c.done:
		return
	default:
	}
	if c.append(&mqtt.Pingreq{}) == nil {
		c.Flush() // resets the timer
	}
}

func (c *Conn) readLoop(r *mqtt.Reader) {
	defer close(c.done)
	for {
		p, err := r.ReadPacket(c.v)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			}
			c.fail(err)
			return
		}
		if err := c.handle(p, time.Now()); err != nil {
			c.fail(err)
			return
		}
		if r.Buffered() == 0 {
			if err := c.tryFlush(); err != nil {
				return
			}
		}
	}
}

func (c *Conn) handle(p mqtt.Packet, now time.Time) error {
	switch p := p.(type) {
	case *mqtt.Publish:
		if c.opt.OnPublish != nil {
			c.opt.OnPublish(p, now)
		}
		switch p.QoS {
		case 1:
			return c.append(&mqtt.Puback{PacketID: p.PacketID})
		case 2:
			return c.append(&mqtt.Pubrec{PacketID: p.PacketID})
		}
	case *mqtt.Puback:
		c.complete(p.PacketID, p.ReasonCode)
	case *mqtt.Pubrec:
		if p.ReasonCode.IsError() {
			c.complete(p.PacketID, p.ReasonCode)
			return nil
		}
		return c.append(&mqtt.Pubrel{PacketID: p.PacketID})
	case *mqtt.Pubcomp:
		c.complete(p.PacketID, p.ReasonCode)
	case *mqtt.Pubrel:
		return c.append(&mqtt.Pubcomp{PacketID: p.PacketID})
	case *mqtt.Suback:
		c.imu.Lock()
		ch := c.subs[p.PacketID]
		c.imu.Unlock()
		if ch != nil {
			ch <- p
		}
	case *mqtt.Disconnect:
		return fmt.Errorf("disconnected by broker: %w", p.ReasonCode)
	}
	return nil
}

func (c *Conn) complete(id uint16, rc mqtt.ReasonCode) {
	c.imu.Lock()
	sent, ok := c.inflight[id]
	delete(c.inflight, id)
	c.imu.Unlock()
	if !ok {
		return
	}
	c.slots <- struct{}{}
	if c.opt.OnAck != nil {
		c.opt.OnAck(sent, rc)
	}
}

// Close sends DISCONNECT (unless the connection already ended) and closes
// the connection, waiting for the read goroutine to end. Later calls return
// the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.ping != nil {
			c.ping.Stop()
		}
		select {
		case <-c.done:
		default:
			if err := c.append(&mqtt.Disconnect{}); err == nil {
				c.closeErr = c.Flush()
			}
		}
		c.err.CompareAndSwap(nil, &ErrClosed)
		c.nc.Close()
		<-c.done
	})
	return c.closeErr
}
