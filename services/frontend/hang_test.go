package frontend

import (
	"errors"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestPingWhileAppendsHang: a connection whose Kafka appends do not return
// (its PUBLISH and SUBSCRIBE wait for their records) still answers PINGREQ
// within its keep-alive, and another connection of the same frontend
// publishes, subscribes and receives as if nothing happened. Control
// packets never wait behind another packet's append.
func TestPingWhileAppendsHang(t *testing.T) {
	s, log := newUnitServer(t, func(cfg *Config) { cfg.PublishRetry = time.Minute })
	log.unhang = make(chan struct{})
	defer close(log.unhang)

	stuck := dialPipe(t, s, mqtt.V5)
	stuck.connect(&mqtt.Connect{ClientID: "stuck", CleanStart: true, KeepAlive: 1})
	log.mu.Lock()
	log.hang = func(r *kafkalog.Record) bool {
		c, _ := r.Header(kafkalog.HeaderClient)
		return string(r.Key) == "stuck" || string(c) == "stuck"
	}
	log.mu.Unlock()
	stuck.send(&mqtt.Publish{Topic: "t/stuck", QoS: 1, PacketID: 1, Payload: []byte("held")})
	stuck.send(&mqtt.Subscribe{PacketID: 2, Subscriptions: []mqtt.Subscription{{Filter: "t/#", QoS: 1}}})
	for i := range 3 {
		stuck.send(&mqtt.Pingreq{})
		// Keep-alive 1 s: an answer later than that is too late.
		if p := stuck.next(time.Second); p == nil || p.Type() != mqtt.PINGRESP {
			t.Fatalf("ping %d: got %v, want PINGRESP within the keep-alive", i, p)
		}
	}

	other := dialPipe(t, s, mqtt.V5)
	other.connect(&mqtt.Connect{ClientID: "other", CleanStart: true})
	if ack := subscribe(t, other, 1, mqtt.Subscription{Filter: "o/#", QoS: 1}); ack.ReasonCodes[0] != mqtt.GrantedQoS1 {
		t.Fatalf("other: SUBACK %v", ack.ReasonCodes)
	}
	other.send(&mqtt.Publish{Topic: "o/x", QoS: 1, PacketID: 7, Payload: []byte("fine")})
	if p, ok := other.next(5 * time.Second).(*mqtt.Puback); !ok || p.PacketID != 7 {
		t.Fatalf("other: got %v, want PUBACK 7", p)
	}
	feed(s, 0, 0, "o/x", 1, "x", "delivered")
	if p, ok := other.next(5 * time.Second).(*mqtt.Publish); !ok || string(p.Payload) != "delivered" {
		t.Fatalf("other: got %v, want the delivery", p)
	}
	// The stuck connection got nothing for its PUBLISH or SUBSCRIBE, as
	// neither is logged.
	select {
	case p := <-stuck.pkts:
		t.Fatalf("stuck: got %v while its appends hang", p)
	default:
	}
}

// TestAcksAfterClientDisconnect: a client that sends QoS 1 PUBLISHes and
// then DISCONNECT at once, while their appends are still under way, gets
// every PUBACK before the socket closes; without them it would send the
// messages again.
func TestAcksAfterClientDisconnect(t *testing.T) {
	for _, v := range []mqtt.Version{mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			s, log := newUnitServer(t, nil)
			unhang := make(chan struct{})
			log.unhang = unhang
			c := dialPipe(t, s, v)
			c.connect(&mqtt.Connect{ClientID: "leaver", CleanStart: true})
			log.mu.Lock()
			log.hang = func(r *kafkalog.Record) bool { return r.Topic == DefaultTopics().Messages }
			log.mu.Unlock()
			const n = 5
			for i := range n {
				c.send(&mqtt.Publish{Topic: "t/x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
			}
			c.send(&mqtt.Disconnect{})
			// The appends are answered only once the DISCONNECT ended the
			// connection.
			deadline := time.Now().Add(5 * time.Second)
			for !disconnected(s, "leaver") {
				if time.Now().After(deadline) {
					t.Fatal("the DISCONNECT was not handled")
				}
				time.Sleep(5 * time.Millisecond)
			}
			close(unhang)
			acked := map[uint16]bool{}
			for p := c.next(5 * time.Second); p != nil; p = c.next(5 * time.Second) {
				ack, ok := p.(*mqtt.Puback)
				if !ok {
					t.Fatalf("got %v, want only PUBACKs", p)
				}
				acked[ack.PacketID] = true
			}
			if len(acked) != n {
				t.Fatalf("%d of %d PUBACKs before the close", len(acked), n)
			}
			c.closed(5 * time.Second)
		})
	}
}

// disconnected reports whether the connection of clientID has its end's
// cause set to the client's DISCONNECT.
func disconnected(s *Server, clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.clientID == clientID && errors.Is(c.cause(), ErrClientDisconnect) {
			return true
		}
	}
	return false
}
