package frontend

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
)

// Tracing follows one message from its publisher through the log to every
// subscriber (ARCHITECTURE.md invariant 8). The spans, named and attributed
// after the OpenTelemetry messaging conventions (messaging.system "mqtt"
// for the client side, "kafka" for the log):
//
//	mqtt publish            PUBLISH received, until Kafka acknowledged it
//	  send <messages>       the log append (partition, offset)
//	  process <messages>    a frontend following the log dispatches it
//	    mqtt deliver        one per subscriber, until PUBACK / PUBCOMP
//	  mqtt deliver          a replayed delivery (mqtt.replay=true; a resent
//	                        inflight one also mqtt.dup=true), linked to the
//	                        session replay of its connection
//	mqtt connect            CONNECT until CONNACK
//	  session lookup        waiting for the session service (Session Present)
//	  session replay        re-sending what the session missed
//	  mqtt takeover         a newer CONNECT closed the older connection
//
// The publish span's context travels in the record headers, so the spans
// of other processes join its trace; an MQTT 5 publisher's traceparent user
// property is its parent, and subscribers receive the user property as
// published. With no tracer provider installed nothing is built: the only
// cost is a check per message, and the publisher's context passes
// unchanged.

var propagator = propagation.TraceContext{}

var tracer = tracing.NewTracer("github.com/tidemarkmq/tidemark/services/frontend")

// Attribute keys beyond the messaging conventions' own.
const (
	attrQoS      = attribute.Key("mqtt.qos")
	attrPacketID = attribute.Key("mqtt.packet_id")
	attrReplay   = attribute.Key("mqtt.replay")
	attrPresent  = attribute.Key("mqtt.session_present")
	attrResult   = attribute.Key("mqtt.connect.result")
	attrEpoch    = attribute.Key("tidemark.epoch")
	attrNode     = attribute.Key("tidemark.node")
)

func mqttAttrs(op, opType, topic, client string, qos byte) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "mqtt"),
		attribute.String("messaging.operation.name", op),
		attribute.String("messaging.operation.type", opType),
		attribute.String("messaging.destination.name", topic),
		attribute.String("messaging.client.id", client),
		attrQoS.Int(int(qos)),
	}
}

// kafkaAttrs are the attributes of a span on the log: op (send, process)
// of a record of topic t keyed by the MQTT topic key.
func kafkaAttrs(op, t, key string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.name", op),
		attribute.String("messaging.operation.type", op),
		attribute.String("messaging.destination.name", t),
		attribute.String("messaging.kafka.message.key", key),
	}
}

// publishTrace is the span of one logged PUBLISH and of its append.
type publishTrace struct {
	pub, app trace.Span
	rec      *kafkalog.Record
}

// startPublishSpan starts the span of one logged PUBLISH under the context
// found in rec's headers (copied there from the user properties) and its
// log append child, and writes the publish span's context back, so
// consumers of the log continue it. It returns nil when tracing is off.
func startPublishSpan(client string, p *mqtt.Publish, rec *kafkalog.Record) *publishTrace {
	t, on := tracer.Get()
	if !on {
		return nil
	}
	ctx := kafkalog.ExtractTrace(context.Background(), rec)
	attrs := append(mqttAttrs("publish", "receive", p.Topic, client, p.QoS),
		attribute.Int("messaging.message.body.size", len(p.Payload)))
	if p.QoS > 0 {
		attrs = append(attrs, attrPacketID.Int(int(p.PacketID)))
	}
	ctx, pub := t.Start(ctx, "mqtt publish", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	kafkalog.InjectTrace(ctx, rec)
	_, app := t.Start(ctx, "send "+rec.Topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(kafkaAttrs("send", rec.Topic, p.Topic)...))
	return &publishTrace{pub: pub, app: app, rec: rec}
}

// endSpan ends a publish trace after the append returned err.
func endSpan(pt *publishTrace, err error) {
	if pt == nil {
		return
	}
	if err == nil {
		pt.app.SetAttributes(
			attribute.String("messaging.destination.partition.id", strconv.Itoa(pt.rec.Partition)),
			attribute.Int64("messaging.kafka.offset", pt.rec.Offset))
	}
	endWith(pt.app, err)
	endWith(pt.pub, err)
}

func endWith(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// parentOf returns the span context a delivery of m continues: the process
// span of live dispatch, else the publish span from the record headers.
func parentOf(m *message) trace.SpanContext {
	if m.span.IsValid() {
		return m.span
	}
	if m.traceparent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{kafkalog.HeaderTraceparent: m.traceparent, kafkalog.HeaderTracestate: m.tracestate}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), carrier))
}

// startProcessSpan starts the span of the live dispatch of a record that
// matched local subscriptions, and makes it the parent of msg's deliveries.
// It returns nil when tracing is off, nothing matched (msg is nil) or the
// record carries no context.
func startProcessSpan(rec *kafkalog.Record, msg *message) trace.Span {
	if msg == nil || msg.traceparent == "" { // nil: no local subscription matched
		return nil
	}
	t, on := tracer.Get()
	if !on {
		return nil
	}
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parentOf(msg))
	_, span := t.Start(ctx, "process "+rec.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		append(kafkaAttrs("process", rec.Topic, msg.topic),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(rec.Partition)),
			attribute.Int64("messaging.kafka.offset", rec.Offset))...))
	msg.span = span.SpanContext()
	return span
}

// startDeliverySpans starts a delivery span for each written PUBLISH of a
// message that carries a trace context, before the write (the loop).
func (c *conn) startDeliverySpans(sent []*delivery) {
	if len(sent) == 0 {
		return
	}
	t, on := tracer.Get()
	if !on {
		return
	}
	for _, d := range sent {
		parent := parentOf(d.msg)
		if !parent.IsValid() {
			continue
		}
		attrs := append(mqttAttrs("deliver", "send", d.msg.topic, c.clientID, d.qos),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(d.msg.partition)),
			attribute.Int64("messaging.kafka.offset", d.msg.offset),
			attribute.Int("messaging.message.body.size", len(d.msg.payload)))
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
		if d.dup {
			attrs = append(attrs, attrPacketID.Int(int(d.pid)), attribute.Bool("mqtt.dup", true))
		}
		if d.replayed {
			attrs = append(attrs, attrReplay.Bool(true))
			if d.link.IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: d.link}))
			}
		}
		opts = append(opts, trace.WithAttributes(attrs...))
		_, d.span = t.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "mqtt deliver", opts...)
	}
}

// endDeliverySpans ends the spans of the QoS 0 deliveries of a batch once
// written; the others end at their acknowledgement.
func endDeliverySpans(sent []*delivery) {
	for _, d := range sent {
		// Only QoS 0 spans: the others end at their acknowledgement.
		if d.qos == 0 && d.span != nil {
			d.span.End()
			d.span = nil
		}
	}
}

// ackDelivery records an acknowledgement on d's span and ends it when the
// exchange is complete.
func ackDelivery(d *delivery, ack string, end bool, rc mqtt.ReasonCode) {
	if d == nil || d.span == nil {
		return
	}
	d.span.AddEvent(ack)
	if rc.IsError() {
		d.span.SetStatus(codes.Error, ack+" "+rc.Error())
		end = true
	}
	if end {
		d.span.End()
		d.span = nil
	}
}

// endUnacked ends the spans of deliveries still waiting for their
// acknowledgement when the connection ends (the loop, once it writes no
// more).
func (c *conn) endUnacked() {
	if c.out == nil || !tracer.On() {
		return
	}
	for _, e := range c.out.inflight {
		for _, sp := range []trace.Span{e.span, spanOf(e.d)} {
			if sp != nil {
				sp.SetStatus(codes.Error, "connection ended before the acknowledgement")
				sp.End()
			}
		}
		e.span = nil
		if e.d != nil {
			e.d.span = nil
		}
	}
}

func spanOf(d *delivery) trace.Span {
	if d == nil {
		return nil
	}
	return d.span
}

// traceConnect runs connect under an "mqtt connect" span.
func (c *conn) traceConnect(cp *mqtt.Connect) (session.State, bool) {
	t, on := tracer.Get()
	if !on {
		return c.connect(cp)
	}
	_, span := t.Start(context.Background(), "mqtt connect", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("messaging.system", "mqtt"),
		attribute.String("messaging.operation.name", "connect"),
		attribute.String("messaging.client.id", cp.ClientID),
		attribute.Int("mqtt.protocol_version", int(cp.Version)),
		attribute.Bool("mqtt.clean_start", cp.CleanStart),
		attrNode.String(c.s.cfg.Node),
	))
	c.connSpan = span.SpanContext()
	st, ok := c.connect(cp)
	span.SetAttributes(attribute.String("messaging.client.id", c.clientID), attrEpoch.Int64(c.epoch.Load()))
	if ok {
		span.SetAttributes(attrPresent.Bool(st.Present), attrResult.String("accepted"))
	} else {
		span.SetAttributes(attrResult.String("refused"))
		if err := c.cause(); err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
	return st, ok
}

// withConnSpan returns ctx carrying the connect span, so the connect op
// and the session lookup join its trace.
func (c *conn) withConnSpan(ctx context.Context) context.Context {
	if !c.connSpan.IsValid() {
		return ctx
	}
	return trace.ContextWithSpanContext(ctx, c.connSpan)
}

// waitApplied is the session lookup of CONNECT: the wait for the session
// service to apply the connect op, under a "session lookup" span.
func (c *conn) waitApplied(ctx context.Context, epoch int64) (session.State, error) {
	if !c.connSpan.IsValid() {
		return c.s.reader.WaitApplied(ctx, c.clientID, epoch)
	}
	t, _ := tracer.Get()
	ctx, span := t.Start(ctx, "session lookup", trace.WithAttributes(
		attribute.String("messaging.client.id", c.clientID), attrEpoch.Int64(epoch)))
	st, err := c.s.reader.WaitApplied(ctx, c.clientID, epoch)
	if err == nil {
		span.SetAttributes(attrPresent.Bool(st.Present),
			attribute.Int("tidemark.session.queued", len(st.Queue)),
			attribute.Int("tidemark.session.inflight", len(st.Inflight)),
			attribute.Int("tidemark.session.subscriptions", len(st.Subscriptions)))
	}
	endWith(span, err)
	return st, err
}

// startReplaySpan starts the "session replay" span of a resumed session,
// a child of its connect span; nil when the connection is not traced.
func (c *conn) startReplaySpan(st *session.State) trace.Span {
	if !c.connSpan.IsValid() {
		return nil
	}
	t, _ := tracer.Get()
	_, span := t.Start(trace.ContextWithSpanContext(context.Background(), c.connSpan), "session replay", trace.WithAttributes(
		attribute.String("messaging.client.id", c.clientID),
		attribute.Int("tidemark.session.queued", len(st.Queue)),
		attribute.Int("tidemark.session.inflight", len(st.Inflight))))
	return span
}

// traceTakeover records that c was taken over by the connect op rec (nil
// for a newer connection on this frontend), as a span in the trace of the
// newer CONNECT: parent carries its span, or rec's headers do.
func traceTakeover(c *conn, parent context.Context, rec *kafkalog.Record) {
	t, on := tracer.Get()
	if !on {
		return
	}
	ctx := parent
	if rec != nil {
		ctx = kafkalog.ExtractTrace(ctx, rec)
	}
	_, span := t.Start(ctx, "mqtt takeover", trace.WithAttributes(
		attribute.String("messaging.system", "mqtt"),
		attribute.String("messaging.client.id", c.clientID),
		attrEpoch.Int64(c.epoch.Load()),
		attrNode.String(c.s.cfg.Node)))
	if rec != nil {
		span.SetAttributes(attribute.Int64("tidemark.takeover.by_epoch", rec.Offset))
	}
	span.End()
}
