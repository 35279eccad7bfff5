package frontend

import (
	"fmt"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
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
