package frontend

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// installRecorder makes a span recorder the global provider for one test.
func installRecorder(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

// waitSpans waits until every name has an ended span and returns the last
// ended span of each name.
func waitSpans(t *testing.T, rec *tracetest.SpanRecorder, names ...string) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			got[s.Name()] = s
		}
		missing := ""
		for _, n := range names {
			if got[n] == nil {
				missing = n
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended %q span; ended: %v", missing, spanNames(rec.Ended()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func hasEvent(s sdktrace.ReadOnlySpan, name string) bool {
	for _, e := range s.Events() {
		if e.Name == name {
			return true
		}
	}
	return false
}

// TestTraceAcrossTheLog: the publish span is a child of the publisher's
// trace context, its context is what the record carries, the log append
// and the dispatch of the record are its children, and the delivery span
// is a child of the dispatch that ends at the subscriber's PUBACK.
func TestTraceAcrossTheLog(t *testing.T) {
	rec := installRecorder(t)
	s, log := newUnitServer(t, nil)
	sub := dialPipe(t, s, mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: "t", QoS: 1})
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
	p := sub.expectPublish()
	got := false
	for _, up := range p.Properties.UserProperties {
		got = got || (up.Key == "traceparent" && up.Value == parent)
	}
	if !got {
		t.Errorf("subscriber got user properties %v, want the publisher's traceparent", p.Properties.UserProperties)
	}
	time.Sleep(50 * time.Millisecond)
	for _, s := range rec.Ended() {
		if s.Name() == "mqtt deliver" {
			t.Fatal("delivery span ended before the PUBACK")
		}
	}
	sub.send(&mqtt.Puback{PacketID: p.PacketID})

	topic := DefaultTopics().Messages
	spans := waitSpans(t, rec, "mqtt publish", "send "+topic, "process "+topic, "mqtt deliver")
	publish, send, process, deliver := spans["mqtt publish"], spans["send "+topic], spans["process "+topic], spans["mqtt deliver"]
	if got := publish.Parent().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Fatalf("publish span trace %s, want the publisher's", got)
	}
	tests := []struct {
		name          string
		child, parent sdktrace.ReadOnlySpan
	}{
		{"append under publish", send, publish},
		{"dispatch under publish", process, publish},
		{"delivery under dispatch", deliver, process},
	}
	for _, tt := range tests {
		if tt.child.Parent().SpanID() != tt.parent.SpanContext().SpanID() {
			t.Errorf("%s: %s's parent is %s, want %s", tt.name, tt.child.Name(), tt.child.Parent().SpanID(), tt.parent.SpanContext().SpanID())
		}
	}
	if h, _ := msgs[0].Header(kafkalog.HeaderTraceparent); string(h) == parent {
		t.Fatal("record carries the publisher's context, not the publish span's")
	}
	for _, c := range []struct {
		span      sdktrace.ReadOnlySpan
		key, want string
	}{
		{publish, "messaging.system", "mqtt"},
		{publish, "messaging.destination.name", "t"},
		{publish, "messaging.client.id", "pub"},
		{publish, "mqtt.qos", "1"},
		{send, "messaging.system", "kafka"},
		{send, "messaging.destination.name", topic},
		{send, "messaging.destination.partition.id", "0"},
		{send, "messaging.kafka.offset", "0"},
		{process, "messaging.operation.type", "process"},
		{deliver, "messaging.client.id", "sub"},
		{deliver, "messaging.kafka.offset", "0"},
	} {
		if got := attr(c.span, c.key); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.span.Name(), c.key, got, c.want)
		}
	}
	if !hasEvent(deliver, "puback") {
		t.Error("delivery span has no puback event")
	}
}

// TestTraceConnect: CONNECT is a span with the session lookup as a child,
// and the connect op carries its context.
func TestTraceConnect(t *testing.T) {
	rec := installRecorder(t)
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V311)
	c.connect(&mqtt.Connect{ClientID: "c1", CleanStart: true})
	spans := waitSpans(t, rec, "mqtt connect", "session lookup")
	connect, lookup := spans["mqtt connect"], spans["session lookup"]
	if lookup.Parent().SpanID() != connect.SpanContext().SpanID() {
		t.Error("session lookup is not a child of the connect span")
	}
	if got := attr(connect, "mqtt.connect.result"); got != "accepted" {
		t.Errorf("connect result %q", got)
	}
	var op *kafkalog.Record
	for _, r := range log.messages(DefaultTopics().Sessions) {
		op = r
	}
	if op == nil {
		t.Fatal("no connect op")
	}
	h, _ := op.Header(kafkalog.HeaderTraceparent)
	if want := connect.SpanContext().TraceID().String(); len(h) < 35 || string(h[3:35]) != want {
		t.Errorf("connect op traceparent %q, want trace %s", h, want)
	}
}

// BenchmarkDeliveryTracing measures the per-message tracing work of the
// publish and delivery paths: off (no provider installed), a no-op
// provider, and a recording provider.
func BenchmarkDeliveryTracing(b *testing.B) {
	p := &mqtt.Publish{Topic: "bench/t", QoS: 1, Payload: make([]byte, 64)}
	run := func(b *testing.B, traced bool) {
		c := &conn{clientID: "bench", out: newOutbox(10)}
		b.ReportAllocs()
		for b.Loop() {
			rec := publishRecord("tidemark.messages", "bench", p, time.Now())
			if !traced {
				decodeMessage(rec)
				continue
			}
			pt := startPublishSpan("bench", p, rec)
			endSpan(pt, nil)
			msg := decodeMessage(rec)
			if sp := startProcessSpan(rec, msg); sp != nil {
				sp.End()
			}
			sent := []*delivery{{msg: msg, qos: 0}}
			c.startDeliverySpans(sent)
			endDeliverySpans(sent)
		}
	}
	prev := otel.GetTracerProvider()
	b.Cleanup(func() { otel.SetTracerProvider(prev) })
	// baseline is the record's encoding and decoding alone, without any
	// tracing call: what "off" must not measurably exceed.
	b.Run("baseline", func(b *testing.B) { run(b, false) })
	b.Run("off", func(b *testing.B) {
		if tracer.On() {
			b.Skip("a provider is installed")
		}
		run(b, true)
	})
	b.Run("noop", func(b *testing.B) {
		otel.SetTracerProvider(noop.NewTracerProvider())
		run(b, true)
	})
	b.Run("recording", func(b *testing.B) {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())))
		run(b, true)
	})
}

// TestTraceDispatchWithoutMatch: a traced record that matches no local
// subscription is dispatched without a span (and without failing).
func TestTraceDispatchWithoutMatch(t *testing.T) {
	rec := installRecorder(t)
	s, _ := newUnitServer(t, nil)
	sub := dialPipe(t, s, mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: "a", QoS: 0})
	r := publishRecord(DefaultTopics().Messages, "pub", &mqtt.Publish{Topic: "b", Payload: []byte("x")}, time.Now())
	r.Headers = append(r.Headers, kafkalog.Header{Key: kafkalog.HeaderTraceparent, Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")})
	s.router.dispatch(r)
	for _, sp := range rec.Ended() {
		if sp.Name() == "process "+DefaultTopics().Messages {
			t.Fatal("a process span for a record no session matched")
		}
	}
}

// TestTraceTakeover: a second CONNECT with the same ClientID closes the
// first connection, recorded as a takeover span in the newer CONNECT's
// trace.
func TestTraceTakeover(t *testing.T) {
	rec := installRecorder(t)
	s, _ := newUnitServer(t, nil)
	first := dialPipe(t, s, mqtt.V311)
	first.connect(&mqtt.Connect{ClientID: "twice", CleanStart: true})
	second := dialPipe(t, s, mqtt.V311)
	second.connect(&mqtt.Connect{ClientID: "twice", CleanStart: true})
	first.closed(10 * time.Second)
	take := waitSpans(t, rec, "mqtt takeover")["mqtt takeover"]
	// The newer CONNECT's span ends once its CONNACK is written, which
	// the client may see first: wait for it too.
	var newer sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(10 * time.Second); newer == nil; time.Sleep(10 * time.Millisecond) {
		for _, sp := range rec.Ended() {
			if sp.Name() == "mqtt connect" && sp.SpanContext().SpanID() == take.Parent().SpanID() {
				newer = sp
			}
		}
		if newer == nil && time.Now().After(deadline) {
			t.Fatal("the takeover span is not a child of a connect span")
		}
	}
	if got := attr(take, "messaging.client.id"); got != "twice" {
		t.Errorf("takeover client %q", got)
	}
	if e, n := attr(take, "tidemark.epoch"), attr(newer, "tidemark.epoch"); e == n {
		t.Errorf("takeover of epoch %s recorded under the connect of the same epoch", e)
	}
}

// TestTraceQoS2DeliveryEndsAtPubcomp: a QoS 2 delivery span records the
// PUBREC and ends at the PUBCOMP.
func TestTraceQoS2DeliveryEndsAtPubcomp(t *testing.T) {
	rec := installRecorder(t)
	s, log := newUnitServer(t, nil)
	sub := dialPipe(t, s, mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "sub2", CleanStart: true})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: "q2", QoS: 2})
	pub := dialPipe(t, s, mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub2", CleanStart: true})
	pub.send(&mqtt.Publish{Topic: "q2", QoS: 1, PacketID: 1, Payload: []byte("x")})
	pub.next(5 * time.Second)
	msgs := log.messages(DefaultTopics().Messages)
	if len(msgs) != 1 {
		t.Fatalf("%d records", len(msgs))
	}
	// A QoS 2 delivery needs a QoS 2 message: rewrite the logged QoS.
	for i, h := range msgs[0].Headers {
		if h.Key == kafkalog.HeaderQoS {
			msgs[0].Headers[i].Value = []byte("2")
		}
	}
	s.router.dispatch(msgs[0])
	p := sub.expectPublish()
	if p.QoS != 2 {
		t.Fatalf("delivered at QoS %d", p.QoS)
	}
	sub.send(&mqtt.Pubrec{PacketID: p.PacketID})
	if r, ok := sub.next(5 * time.Second).(*mqtt.Pubrel); !ok || r.PacketID != p.PacketID {
		t.Fatalf("want PUBREL %d, got %v", p.PacketID, r)
	}
	time.Sleep(50 * time.Millisecond)
	for _, sp := range rec.Ended() {
		if sp.Name() == "mqtt deliver" {
			t.Fatal("delivery span ended at PUBREC")
		}
	}
	sub.send(&mqtt.Pubcomp{PacketID: p.PacketID})
	d := waitSpans(t, rec, "mqtt deliver")["mqtt deliver"]
	if !hasEvent(d, "pubrec") || !hasEvent(d, "pubcomp") {
		t.Fatalf("delivery span events %v, want pubrec and pubcomp", d.Events())
	}
}

// TestIntegrationTraceResend: a QoS 2 message written to a persistent
// session and never acknowledged is resent (DUP, same packet id) when the
// session resumes on the other frontend; the resend is a delivery span in
// the message's trace, marked as a replay, that ends at the PUBCOMP.
func TestIntegrationTraceResend(t *testing.T) {
	rec := installRecorder(t)
	r := resendQoS2(t, newStack(t), "resend-", "again")
	tp, id := r.tp, r.id
	r.c2.send(&mqtt.Pubcomp{PacketID: r.first.PacketID})

	deadline := time.Now().Add(30 * time.Second)
	for {
		var publish, resend sdktrace.ReadOnlySpan
		for _, sp := range rec.Ended() {
			switch {
			case sp.Name() == "mqtt publish" && attr(sp, "messaging.destination.name") == tp:
				publish = sp
			case sp.Name() == "mqtt deliver" && attr(sp, "mqtt.dup") == "true" && attr(sp, "messaging.client.id") == id:
				resend = sp
			}
		}
		if publish != nil && resend != nil {
			if resend.Parent().SpanID() != publish.SpanContext().SpanID() {
				t.Error("the resend is not a child of the publish span")
			}
			if attr(resend, "mqtt.replay") != "true" || !hasEvent(resend, "pubrec") || !hasEvent(resend, "pubcomp") {
				t.Errorf("resend span: replay %q, events %v", attr(resend, "mqtt.replay"), resend.Events())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish span %v, resend span %v; ended: %v", publish != nil, resend != nil, spanNames(rec.Ended()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
