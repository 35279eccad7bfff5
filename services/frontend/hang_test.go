package frontend

import (
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
