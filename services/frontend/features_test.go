package frontend

import (
	"strconv"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

func TestConnackCapabilities(t *testing.T) {
	s, _ := newUnitServer(t, func(c *Config) { c.MaxKeepAlive = 30; c.MaxExpiry = time.Minute })
	c := dialPipe(t, s, mqtt.V5)
	ack := c.connect(&mqtt.Connect{ClientID: "caps", CleanStart: true, KeepAlive: 600,
		Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(3600)), RequestResponseInfo: mqtt.Ptr(byte(1))}})
	p := ack.Properties
	checks := []struct {
		name string
		ok   bool
	}{
		{"maximum qos absent (2)", p.MaximumQoS == nil},
		{"retain available", p.RetainAvailable != nil && *p.RetainAvailable == 1},
		{"wildcards", p.WildcardSubAvailable != nil && *p.WildcardSubAvailable == 1},
		{"subscription ids", p.SubIDAvailable != nil && *p.SubIDAvailable == 1},
		{"shared", p.SharedSubAvailable != nil && *p.SharedSubAvailable == 1},
		{"receive maximum", p.ReceiveMaximum != nil && *p.ReceiveMaximum == 1000},
		{"topic alias maximum", p.TopicAliasMaximum != nil && *p.TopicAliasMaximum == 64},
		{"maximum packet size", p.MaximumPacketSize != nil && *p.MaximumPacketSize == 1<<20},
		{"server keep alive capped", p.ServerKeepAlive != nil && *p.ServerKeepAlive == 30},
		{"session expiry capped", p.SessionExpiry != nil && *p.SessionExpiry == 60},
		{"response information", p.ResponseInfo != nil && *p.ResponseInfo != ""},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !ch.ok {
				t.Fatalf("CONNACK properties: %+v", p)
			}
		})
	}
}

// retain puts a retained message into the server's copy.
func retain(s *Server, topic, payload string, qos byte) {
	s.retained.apply(&kafkalog.Record{Key: []byte(topic), Value: []byte(payload),
		Headers: []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte{'0' + qos}}, {Key: kafkalog.HeaderRetain, Value: []byte("1")}}})
}

func TestRetainHandling(t *testing.T) {
	tests := []struct {
		rh          byte
		first, next bool // retained delivered at first SUBSCRIBE, at a repeated one
	}{
		{0, true, true},
		{1, true, false},
		{2, false, false},
	}
	for _, tt := range tests {
		t.Run("rh"+strconv.Itoa(int(tt.rh)), func(t *testing.T) {
			s, _ := newUnitServer(t, nil)
			retain(s, "r/1", "kept", 1)
			c := dialPipe(t, s, mqtt.V5)
			c.connect(&mqtt.Connect{ClientID: "r", CleanStart: true})
			for i, want := range []bool{tt.first, tt.next} {
				subscribe(t, c, uint16(i+1), mqtt.Subscription{Filter: "r/+", QoS: 0, RetainHandling: tt.rh})
				if !want {
					c.quiet(100 * time.Millisecond)
					continue
				}
				p := c.expectPublish()
				if string(p.Payload) != "kept" || !p.Retain {
					t.Fatalf("got %q retain=%v", p.Payload, p.Retain)
				}
			}
		})
	}
}

func TestMessageExpiryAndMaxPacketSize(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "e", CleanStart: true, Properties: mqtt.Properties{MaximumPacketSize: mqtt.Ptr(uint32(64))}})
	subscribe(t, c, 1, mqtt.Subscription{Filter: "e", QoS: 0})
	rec := func(off int64, payload string, expires time.Time) *kafkalog.Record {
		r := &kafkalog.Record{Partition: 0, Offset: off, Key: []byte("e"), Value: []byte(payload),
			Headers: []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte("0")}}}
		if !expires.IsZero() {
			r.Headers = append(r.Headers, kafkalog.Header{Key: kafkalog.HeaderExpires, Value: []byte(strconv.FormatInt(expires.UnixMilli(), 10))})
		}
		return r
	}
	s.router.dispatch(rec(0, "old", time.Now().Add(-time.Second)))
	s.router.dispatch(rec(1, string(make([]byte, 100)), time.Time{}))
	s.router.dispatch(rec(2, "fresh", time.Now().Add(time.Minute)))
	p := c.expectPublish()
	if string(p.Payload) != "fresh" {
		t.Fatalf("got %q, want only the fresh message", p.Payload)
	}
	if p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry > 60 || *p.Properties.MessageExpiry < 58 {
		t.Fatalf("remaining expiry %v, want about 60s", p.Properties.MessageExpiry)
	}
	reasons := map[events.DropReason]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(reasons) < 2 && time.Now().Before(deadline) {
		for _, op := range log.ops(t) {
			if op.Kind == session.OpDrop {
				reasons[events.DropReason(op.Reason)] = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !reasons[events.DropExpired] || !reasons[events.DropPacketTooLarge] {
		t.Fatalf("drop ops %v, want expired and packet_too_large", reasons)
	}
}

// TestSlowConsumer: a client that stops reading is disconnected as a slow
// consumer instead of holding up delivery.
func TestSlowConsumer(t *testing.T) {
	s, log := newUnitServer(t, func(c *Config) { c.WriteTimeout = 100 * time.Millisecond; c.MaxPending = 8 })
	c := dialPipe(t, s, mqtt.V311)
	c.connect(&mqtt.Connect{ClientID: "slow", CleanStart: true})
	subscribe(t, c, 1, mqtt.Subscription{Filter: "s", QoS: 0})
	// Stop reading: take the reader's channel out of the picture by
	// never draining it past its buffer, then flood.
	for i := int64(0); i < 200; i++ {
		feed(s, 0, i, "s", 0, "x", string(make([]byte, 1024)))
	}
	op := log.waitOp(t, session.OpDisconnect)
	if op.Reason != string(events.DisconnectSlowConsumer) {
		t.Fatalf("disconnect reason %q, want slow_consumer", op.Reason)
	}
}
