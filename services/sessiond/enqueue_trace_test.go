package sessiond

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestEnqueueSpanOnCatchUp: a message published before the session
// service registered the offline session is queued by the catch-up scan,
// and gets its enqueue span under the message's trace as on the
// follower's path (the Jaeger test of an offline replay missed it now and
// then: its publish raced the registration).
func TestEnqueueSpanOnCatchUp(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	h := newHarness(t)
	in := h.start(nil)
	const cid = "traced-catch-up"
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	a, _ := h.connect(cid, connID(cid, "A"), false, 5, 600)
	a.send(&session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: "tr/#", QoS: 1}}})
	a.send(&session.Op{Kind: session.OpProgress, Cursor: h.cursorNow()})
	// Published while the client was connected and not delivered to it
	// (after its cursor): the catch-up at its disconnect queues it.
	msg := &kafkalog.Record{Topic: h.topics.Messages, Key: []byte("tr/x"), Value: []byte("p"), Headers: []kafkalog.Header{
		{Key: kafkalog.HeaderQoS, Value: []byte("1")}, {Key: kafkalog.HeaderClient, Value: []byte("pub")},
		{Key: kafkalog.HeaderTraceparent, Value: []byte("00-" + traceID + "-00f067aa0ba902b7-01")},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.app.Append(ctx, msg); err != nil {
		t.Fatal(err)
	}
	// The queue follower is past it before the session goes offline, so it
	// is the catch-up that queues it, not the follower.
	eventually(t, "the queue follower past the message", func() (bool, error) {
		return in.svc.q.positions()[msg.Partition] > msg.Offset, nil
	})
	a.disconnect(events.DisconnectNormal, 600)
	eventually(t, "queued", func() (bool, error) { return len(h.load(cid).Queue) == 1, nil })
	eventually(t, "enqueue span of the catch-up", func() (bool, error) {
		for _, s := range spans.Ended() {
			if s.Name() != "session enqueue" || s.SpanContext().TraceID().String() != traceID {
				continue
			}
			for _, kv := range s.Attributes() {
				if kv.Key == "tidemark.catch_up" && kv.Value.AsBool() {
					return true, nil
				}
			}
		}
		return false, nil
	})
}
