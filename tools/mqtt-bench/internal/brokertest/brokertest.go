// Package brokertest is a minimal MQTT broker for the load tool's tests that
// misbehaves on purpose, so that the tool is shown to find lost, duplicated
// and reordered messages when a broker produces them.
package brokertest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Faults say which PUBLISH packets the broker mishandles, counting from 1
// over every PUBLISH it receives from any client.
type Faults struct {
	Drop []int // never delivered
	Dup  []int // delivered twice
	Swap []int // held back and delivered after the next one
	// Slow delays the routing of every PUBLISH: a broker slower than the
	// offered load, whose backlog is still draining when a run's cap ends.
	Slow time.Duration
}

// faultyBroker: exact-match topics, QoS 0 and 1, shared subscriptions
// served round robin, no sessions.
type faultyBroker struct {
	ln             net.Listener
	drop, dup, swp map[int]bool
	slow           time.Duration

	mu       sync.Mutex
	received int
	held     *mqtt.Publish
	subs     map[string][]*brokerConn
	shared   map[string][]*brokerConn // topic -> group members (one group per topic)
	next     int                      // round robin over shared members
	conns    map[*brokerConn]bool
	closed   bool
	wg       sync.WaitGroup
}

type brokerConn struct {
	nc     net.Conn
	v      mqtt.Version
	wmu    sync.Mutex
	nextID uint16
}

func (c *brokerConn) write(p mqtt.Packet) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if pub, ok := p.(*mqtt.Publish); ok && pub.QoS > 0 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		cp := *pub
		cp.PacketID = c.nextID
		p = &cp
	}
	_ = mqtt.WritePacket(c.nc, p, c.v) // a failed write shows up as a read error
}

// Broker is a running misbehaving broker.
type Broker struct {
	b *faultyBroker
}

// Start serves on a random loopback port until Close.
func Start(f Faults) (*Broker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	set := func(ns []int) map[int]bool {
		m := map[int]bool{}
		for _, n := range ns {
			m[n] = true
		}
		return m
	}
	b := &faultyBroker{ln: ln, drop: set(f.Drop), dup: set(f.Dup), swp: set(f.Swap), slow: f.Slow,
		subs: map[string][]*brokerConn{}, shared: map[string][]*brokerConn{}, conns: map[*brokerConn]bool{}}
	b.wg.Add(1)
	go b.accept()
	return &Broker{b: b}, nil
}

// Addr is the host:port clients connect to.
func (br *Broker) Addr() string { return br.b.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for them.
func (br *Broker) Close() {
	b := br.b
	b.ln.Close()
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.nc.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *faultyBroker) accept() {
	defer b.wg.Done()
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			return
		}
		c := &brokerConn{nc: nc}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			nc.Close()
			return
		}
		b.conns[c] = true
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serve(c)
	}
}

func (b *faultyBroker) serve(c *brokerConn) {
	defer b.wg.Done()
	defer c.nc.Close()
	r := mqtt.NewReader(c.nc, 0)
	cp, err := r.ReadConnect()
	if err != nil {
		return
	}
	c.v = cp.Version
	c.write(&mqtt.Connack{})
	for {
		p, err := r.ReadPacket(c.v)
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *mqtt.Subscribe:
			codes := make([]mqtt.ReasonCode, len(p.Subscriptions))
			b.mu.Lock()
			for i, s := range p.Subscriptions {
				if rest, ok := strings.CutPrefix(s.Filter, "$share/"); ok {
					_, topic, _ := strings.Cut(rest, "/")
					b.shared[topic] = append(b.shared[topic], c)
				} else {
					b.subs[s.Filter] = append(b.subs[s.Filter], c)
				}
				codes[i] = mqtt.ReasonCode(min(s.QoS, 1))
			}
			b.mu.Unlock()
			c.write(&mqtt.Suback{PacketID: p.PacketID, ReasonCodes: codes})
		case *mqtt.Publish:
			b.route(p)
			if p.QoS == 1 {
				c.write(&mqtt.Puback{PacketID: p.PacketID})
			}
		case *mqtt.Pingreq:
			c.write(&mqtt.Pingresp{})
		case *mqtt.Disconnect:
			return
		}
	}
}

// route applies the configured faults, then delivers to every subscriber of
// the exact topic. The lock keeps delivery in arrival order.
func (b *faultyBroker) route(p *mqtt.Publish) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.slow > 0 {
		time.Sleep(b.slow) // under the lock: routing as a whole is slow
	}
	b.received++
	n := b.received
	out := &mqtt.Publish{Topic: p.Topic, QoS: min(p.QoS, 1), Payload: p.Payload}
	switch {
	case b.drop[n]:
		return
	case b.swp[n]:
		b.held = out
		return
	}
	copies := 1
	if b.dup[n] {
		copies = 2
	}
	for range copies {
		b.deliver(out)
	}
	if b.held != nil {
		b.deliver(b.held)
		b.held = nil
	}
}

func (b *faultyBroker) deliver(p *mqtt.Publish) {
	for _, c := range b.subs[p.Topic] {
		c.write(p)
	}
	if members := b.shared[p.Topic]; len(members) > 0 {
		b.next++
		members[b.next%len(members)].write(p)
	}
}
