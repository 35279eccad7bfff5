package frontend

import (
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// With tracing off the pump builds no publish span, and the publisher's
// trace context still reaches the record unchanged.
func TestUntracedPublishKeepsTraceContext(t *testing.T) {
	if _, on := tracer.Get(); on {
		t.Skip("tracing is on")
	}
	s, log := newUnitServer(t, nil)
	pub := dialPipe(t, s, mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub", CleanStart: true})
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	pub.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x"),
		Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{
			{Key: "traceparent", Value: parent}, {Key: "tracestate", Value: "k=v"}}}})
	pub.next(5 * time.Second)
	pub.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: []byte("y")})
	pub.next(5 * time.Second)
	msgs := log.messages(DefaultTopics().Messages)
	if len(msgs) != 2 {
		t.Fatalf("%d records, want 2", len(msgs))
	}
	if h, _ := msgs[0].Header(kafkalog.HeaderTraceparent); string(h) != parent {
		t.Errorf("traceparent %q, want the publisher's %q", h, parent)
	}
	if h, _ := msgs[0].Header(kafkalog.HeaderTracestate); string(h) != "k=v" {
		t.Errorf("tracestate %q, want k=v", h)
	}
	if h, ok := msgs[1].Header(kafkalog.HeaderTraceparent); ok {
		t.Errorf("a publish without trace context got traceparent %q", h)
	}
	if q, _ := msgs[1].Header(kafkalog.HeaderQoS); string(q) != "1" {
		t.Errorf("qos header %q", q)
	}
}
