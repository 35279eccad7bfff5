package frontend

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// assignedShares counts the messages partitions owned by the share groups
// of the given frontends.
func assignedShares(fes ...*Server) int {
	n := 0
	for _, fe := range fes {
		fe.shares.mu.Lock()
		for _, g := range fe.shares.groups {
			g.mu.Lock()
			n += len(g.next) // one entry per owned partition
			g.mu.Unlock()
		}
		fe.shares.mu.Unlock()
	}
	return n
}

// TestIntegrationSharedSubscription: members of one share on two
// frontends (an MQTT 5 and a 3.1.1 client) get every message exactly once
// between them; after one member leaves, the other gets everything.
func TestIntegrationSharedSubscription(t *testing.T) {
	st := newStack(t)
	a, b := st.frontend("fe-a"), st.frontend("fe-b")
	base := uniqueTopic(t)
	share := "$share/g/" + base + "/+"

	m1 := dialTCP(t, addr(a, "mqtt"), mqtt.V5)
	m1.connect(&mqtt.Connect{ClientID: "m1-" + t.Name(), CleanStart: true})
	if ack := subscribe(t, m1, 1, mqtt.Subscription{Filter: share, QoS: 1}); ack.ReasonCodes[0] != mqtt.GrantedQoS1 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	m2 := dialTCP(t, addr(b, "mqtt"), mqtt.V311)
	m2.connect(&mqtt.Connect{ClientID: "m2-" + t.Name(), CleanStart: true})
	subscribe(t, m2, 1, mqtt.Subscription{Filter: share, QoS: 1})
	// The 4 partitions are shared out between the two frontends.
	waitFor(t, 60*time.Second, "share partitions assigned", func() bool {
		return assignedShares(a, b) == 4 && len(a.shares.groups) == 1 && len(b.shares.groups) == 1 &&
			assignedShares(a) > 0 && assignedShares(b) > 0
	})

	pub := dialTCP(t, addr(a, "mqtt"), mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub-" + t.Name(), CleanStart: true})
	const n = 40
	for i := 0; i < n; i++ {
		pub.send(&mqtt.Publish{Topic: fmt.Sprintf("%s/%d", base, i%8), QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
	}
	for i := 0; i < n; i++ {
		if _, ok := pub.next(30 * time.Second).(*mqtt.Puback); !ok {
			t.Fatal("want PUBACK")
		}
	}
	got := map[string]int{}
	perMember := map[string]int{}
	collect := func(name string, c *pipeClient) {
		for {
			select {
			case p, ok := <-c.pkts:
				if !ok {
					t.Fatalf("%s closed", name)
				}
				m, isPub := p.(*mqtt.Publish)
				if !isPub {
					t.Fatalf("%s: unexpected %s", name, p.Type())
				}
				got[string(m.Payload)]++
				perMember[name]++
				c.send(&mqtt.Puback{PacketID: m.PacketID})
			default:
				return
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		collect("m1", m1)
		collect("m2", m2)
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("%d distinct messages, want %d", len(got), n)
	}
	for k, v := range got {
		if v != 1 {
			t.Fatalf("message %s delivered %d times", k, v)
		}
	}
	if perMember["m1"] == 0 || perMember["m2"] == 0 {
		t.Fatalf("one member got nothing: %v", perMember)
	}

	// The last member on fe-b leaves: fe-b leaves the consumer group and
	// fe-a's member gets every message.
	m2.send(&mqtt.Disconnect{})
	m2.closed(30 * time.Second)
	waitFor(t, 60*time.Second, "fe-a owns every partition", func() bool {
		return assignedShares(a) == 4 && assignedShares(b) == 0
	})
	for i := 0; i < 8; i++ {
		pub.send(&mqtt.Publish{Topic: fmt.Sprintf("%s/%d", base, i), QoS: 1, PacketID: uint16(100 + i), Payload: []byte(fmt.Sprint("after", i))})
	}
	seen := map[string]bool{}
	for len(seen) < 8 {
		switch p := m1.next(30 * time.Second).(type) {
		case *mqtt.Publish:
			seen[string(p.Payload)] = true
			m1.send(&mqtt.Puback{PacketID: p.PacketID})
		default:
			t.Fatalf("m1: unexpected %v", p)
		}
	}
}

// shareRecord is a messages-topic record of a QoS 1 PUBLISH to name.
func shareRecord(name string, p int, off int64) *kafkalog.Record {
	return &kafkalog.Record{Partition: p, Offset: off, Key: []byte(name), Value: []byte(fmt.Sprint(off)),
		Headers: []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte("1")}}}
}

// testShare is a share group with local members and no consumer group:
// the test plays the group's part by calling Handle.
func testShare(t *testing.T, members ...string) (*shareGroup, map[string]*conn) {
	t.Helper()
	s, _ := newUnitServer(t, nil)
	g := &shareGroup{s: s, key: shareKey{"g", "t/#"}, startAt: map[int]int64{},
		pending: map[int]map[int64]struct{}{}, next: map[int]int64{}, done: make(chan struct{})}
	conns := map[string]*conn{}
	for _, id := range members {
		c := shareMemberConn(s, id)
		conns[id] = c
		g.members = append(g.members, &shareMember{c: c, sub: session.Subscription{Filter: "t/#", QoS: 1}})
	}
	return g, conns
}

// shareMemberConn is a connection as far as a share group sees it: live
// (replay done) with room for 100 deliveries.
func shareMemberConn(s *Server, id string) *conn {
	c := &conn{s: s, clientID: id, log: s.log, ctx: context.Background(), out: newOutbox(100, 100)}
	c.out.replayDone()
	return c
}

// ackAll sends what c's outbox holds and acknowledges it, as a client
// would; it returns how many deliveries it completed.
func ackAll(c *conn) int {
	n := 0
	for {
		b := c.out.take(time.Now())
		if len(b.pkts) == 0 {
			return n
		}
		for _, p := range b.pkts {
			if pub, ok := p.(*mqtt.Publish); ok {
				c.out.puback(pub.PacketID)
				n++
			}
		}
	}
}

// TestShareSkipsClosingMember: a delivery is never offered into an outbox
// that is closing (its connection is ending), which would lose it and pin
// the group's commit: the open member gets every message, and once it has
// acknowledged them nothing is pending.
func TestShareSkipsClosingMember(t *testing.T) {
	g, conns := testShare(t, "closing", "open")
	conns["closing"].out.close()
	const n = 10
	for i := range n {
		if err := g.Handle(context.Background(), shareRecord("t/x", 0, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := ackAll(conns["open"]); got != n {
		t.Fatalf("the open member got %d of %d messages", got, n)
	}
	if left := len(g.pending[0]); left != 0 {
		t.Fatalf("%d offsets still pending after every message was acknowledged", left)
	}
}

// TestShareRequeuesWhenNoMemberTakes: when every member refuses a message
// (closing, or too far behind), it waits in the group, still pending, and
// goes to the next member that joins.
func TestShareRequeuesWhenNoMemberTakes(t *testing.T) {
	g, conns := testShare(t, "a")
	conns["a"].out.close()
	for i := range 3 {
		if err := g.Handle(context.Background(), shareRecord("t/x", 0, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if len(g.requeued) != 3 || len(g.pending[0]) != 3 {
		t.Fatalf("requeued %d, pending %d; want 3 and 3", len(g.requeued), len(g.pending[0]))
	}
	sh := g.s.shares
	sh.groups[g.key] = g
	b := shareMemberConn(g.s, "b")
	sh.join(b, "g", session.Subscription{Filter: "t/#", QoS: 1})
	if got := ackAll(b); got != 3 {
		t.Fatalf("the member that joined got %d of 3 waiting messages", got)
	}
	if len(g.requeued) != 0 || len(g.pending[0]) != 0 {
		t.Fatalf("after delivery: requeued %d, pending %d; want 0 and 0", len(g.requeued), len(g.pending[0]))
	}
}

// TestIntegrationShareMembersLeaveMidStream: members of a share end while
// QoS 1 messages stream in; two never acknowledge anything and close
// abruptly halfway, with deliveries sent, queued and being offered to them.
// Every message still reaches, and is acknowledged by, a member that stays.
func TestIntegrationShareMembersLeaveMidStream(t *testing.T) {
	st := newStack(t)
	fe := st.frontend("fe-share")
	base := uniqueTopic(t)
	share := "$share/g/" + base + "/+"

	var mu sync.Mutex
	acked := map[string]int{}
	members := make([]*pipeClient, 4)
	for i := range members {
		m := dialTCP(t, addr(fe, "mqtt"), mqtt.V5)
		m.connect(&mqtt.Connect{ClientID: fmt.Sprintf("m%d-%s", i, t.Name()), CleanStart: true,
			Properties: mqtt.Properties{ReceiveMaximum: mqtt.Ptr(uint16(10))}})
		if ack := subscribe(t, m, 1, mqtt.Subscription{Filter: share, QoS: 1}); ack.ReasonCodes[0] != mqtt.GrantedQoS1 {
			t.Fatalf("SUBACK %v", ack.ReasonCodes)
		}
		members[i] = m
	}
	waitFor(t, 60*time.Second, "share partitions assigned", func() bool { return assignedShares(fe) == 4 })
	var readers sync.WaitGroup
	for i, m := range members {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for p := range m.pkts {
				pub, ok := p.(*mqtt.Publish)
				if !ok || i < 2 {
					continue // members 0 and 1 never acknowledge
				}
				mu.Lock()
				acked[string(pub.Payload)]++
				mu.Unlock()
				b, _ := mqtt.AppendPacket(nil, &mqtt.Puback{PacketID: pub.PacketID}, mqtt.V5)
				_, _ = m.nc.Write(b)
			}
		}()
	}

	pub := dialTCP(t, addr(fe, "mqtt"), mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub-" + t.Name(), CleanStart: true})
	const n = 300
	for i := 0; i < n; i++ {
		pub.send(&mqtt.Publish{Topic: fmt.Sprintf("%s/%d", base, i%8), QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		switch i {
		case n / 3:
			members[0].nc.Close()
		case 2 * n / 3:
			members[1].nc.Close()
		}
	}
	for i := 0; i < n; i++ {
		if _, ok := pub.next(30 * time.Second).(*mqtt.Puback); !ok {
			t.Fatal("want PUBACK")
		}
	}
	waitFor(t, 60*time.Second, "every message acknowledged by a member that stayed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == n
	})
	members[2].nc.Close()
	members[3].nc.Close()
	readers.Wait()
}
