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
	ctx := tracing.Extract(context.Background(), rec)
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
