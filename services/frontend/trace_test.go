package frontend

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestTraceAcrossTheLog: the publish span is a child of the publisher's
// trace context, its context is what the record carries, and the delivery
// span is its child.
func TestTraceAcrossTheLog(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	s, log := newUnitServer(t, nil)
	sub := dialPipe(t, s, mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: "t", QoS: 0})
	pub := dialPipe(t, s, mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub", CleanStart: true})
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	pub.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("x"),
		Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{{Key: "traceparent", Value: parent}}}})
	pub.next(5 * time.Second)
	msgs := log.messages(DefaultTopics().Messages)
	if len(msgs) != 1 {
		t.Fatalf("%d records", len(msgs))
	}
	s.router.dispatch(msgs[0]) // as the messages follower would
	sub.expectPublish()

	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Ended()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want publish and deliver", len(spans))
	}
	publish, deliver := spans[0], spans[1]
	if publish.Name() != "mqtt publish" || deliver.Name() != "mqtt deliver" {
		t.Fatalf("spans %q, %q", publish.Name(), deliver.Name())
	}
	if got := publish.Parent().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("publish span trace %s, want the publisher's", got)
	}
	if deliver.Parent().SpanID() != publish.SpanContext().SpanID() {
		t.Fatal("delivery span is not a child of the publish span")
	}
	if h, _ := msgs[0].Header(hdrTraceparent); string(h) == parent {
		t.Fatal("record carries the publisher's context, not the publish span's")
	}
}
