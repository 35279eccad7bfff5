package sessiond

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
)

// Tracing: records that carry a W3C trace context (messages from a traced
// publish, connect ops from a traced CONNECT) get a span here under it:
// "session enqueue" when a message is queued for an offline session, and
// "session apply <kind>" when an op is applied. With no tracer provider
// installed nothing is built.

var tracer = tracing.NewTracer("github.com/tidemarkmq/tidemark/services/sessiond")

// traced reports whether rec gets a span: tracing is on and rec carries a
// trace context. The span helpers check it before building anything, as
// they run once per op and per queued message.
func traced(rec *kafkalog.Record) bool {
	if !tracer.On() {
		return false
	}
	_, ok := rec.Header(kafkalog.HeaderTraceparent)
	return ok
}

// startRecordSpan starts a span named name under the context in rec's
// headers; the caller checked traced(rec).
func startRecordSpan(name string, rec *kafkalog.Record, attrs ...attribute.KeyValue) trace.Span {
	t, _ := tracer.Get()
	ctx := kafkalog.ExtractTrace(context.Background(), rec)
	attrs = append(attrs,
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.destination.name", rec.Topic),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(rec.Partition)),
		attribute.Int64("messaging.kafka.offset", rec.Offset))
	_, span := t.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	return span
}

// startEnqueueSpan starts the span of queueing message rec for the
// offline session cid.
func startEnqueueSpan(rec *kafkalog.Record, cid string) trace.Span {
	if !traced(rec) {
		return nil
	}
	return startRecordSpan("session enqueue", rec,
		attribute.String("messaging.operation.name", "enqueue"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.client.id", cid))
}

// startApplySpan starts the span of applying op (from rec).
func startApplySpan(rec *kafkalog.Record, op *session.Op) trace.Span {
	if !traced(rec) {
		return nil
	}
	return startRecordSpan("session apply "+op.Kind, rec,
		attribute.String("messaging.operation.name", "apply"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.client.id", op.ClientID),
		attribute.Int64("tidemark.epoch", op.Epoch))
}

// endSpan ends span with err's status and attrs. Callers check span for
// nil first, so that an untraced op builds no attrs.
func endSpan(span trace.Span, err error, attrs ...attribute.KeyValue) {
	span.SetAttributes(attrs...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceContext returns the W3C trace context rec carries, if any.
func traceContext(rec *kafkalog.Record) (parent, state string) {
	if v, ok := rec.Header(kafkalog.HeaderTraceparent); ok {
		parent = string(v)
		if v, ok := rec.Header(kafkalog.HeaderTracestate); ok {
			state = string(v)
		}
	}
	return parent, state
}

// startWillSpan starts the span of publishing a will, as the frontend's
// "mqtt publish" span of a PUBLISH: its parent is the context rec carries
// (the will's own, else its CONNECT's), and rec then carries the span, so
// the deliveries of the will join the trace. Nil when tracing is off.
func startWillSpan(w willPub, rec *kafkalog.Record) *willSpan {
	t, on := tracer.Get()
	if !on {
		return nil
	}
	will := w.meta.Will
	ctx := kafkalog.ExtractTrace(context.Background(), rec)
	ctx, span := t.Start(ctx, "mqtt publish", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("messaging.system", "mqtt"),
		attribute.String("messaging.operation.name", "publish"),
		attribute.String("messaging.operation.type", "send"),
		attribute.String("messaging.destination.name", will.Topic),
		attribute.String("messaging.client.id", w.cid),
		attribute.Int("mqtt.qos", int(will.QoS)),
		attribute.Bool("mqtt.will", true),
		attribute.String("mqtt.will.trigger", string(w.trigger)),
		attribute.Int("messaging.message.body.size", len(will.Payload))))
	kafkalog.InjectTrace(ctx, rec)
	return &willSpan{span: span, rec: rec}
}

// willSpan is the span of one will's publication.
type willSpan struct {
	span trace.Span
	rec  *kafkalog.Record
}

// willTraces are the spans of a run's wills; nil entries are untraced.
type willTraces []*willSpan

// end ends the spans once the Append returned err.
func (ws willTraces) end(err error) {
	for _, w := range ws {
		if w == nil {
			continue
		}
		var attrs []attribute.KeyValue
		if err == nil {
			attrs = append(attrs,
				attribute.String("messaging.destination.partition.id", strconv.Itoa(w.rec.Partition)),
				attribute.Int64("messaging.kafka.offset", w.rec.Offset))
		}
		endSpan(w.span, err, attrs...)
	}
}
