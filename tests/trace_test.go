package e2e

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTraceCrossesTheLog is invariant 8 end to end: a message published on
// one frontend and delivered by the other, through the real Kafka, gives
// one trace: the delivery span is a child of the other frontend's dispatch
// span, itself a child of the publish span; the only link between the two
// frontends is the trace context in the record's headers.
func TestTraceCrossesTheLog(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	c := newCluster(t, options{})
	sub, _ := c.dial(1, "trace-sub", true)
	sub.subscribe("trace/#", 1)
	pub, _ := c.dial(0, "trace-pub", true)
	pub.publish("trace/a", 1, "followed")
	sub.waitMessages(1)

	var publish, process, deliver sdktrace.ReadOnlySpan
	deadline := time.Now().Add(waitFor)
	for (publish == nil || process == nil || deliver == nil) && time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			switch s.Name() {
			case "mqtt publish":
				publish = s
			case "process " + c.topics.Messages:
				process = s
			case "mqtt deliver":
				deliver = s
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if publish == nil || process == nil || deliver == nil {
		t.Fatalf("spans ended: publish %v, process %v, deliver %v; want all", publish != nil, process != nil, deliver != nil)
	}
	if deliver.SpanContext().TraceID() != publish.SpanContext().TraceID() {
		t.Errorf("delivery in trace %s, publish in trace %s: not one trace", deliver.SpanContext().TraceID(), publish.SpanContext().TraceID())
	}
	if process.Parent().SpanID() != publish.SpanContext().SpanID() {
		t.Error("the dispatch span is not a child of the publish span")
	}
	if deliver.Parent().SpanID() != process.SpanContext().SpanID() {
		t.Error("the delivery span is not a child of the dispatch span")
	}
}
