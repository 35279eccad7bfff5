package frontend

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
)

// Tracing: the W3C trace context of an MQTT 5 publisher (user properties
// traceparent/tracestate) becomes the parent of the frontend's publish
// span, whose context travels in the record headers; each delivery to a
// subscriber is a span under it. With no tracer provider installed the
// spans cost next to nothing and the publisher's context passes unchanged.

var propagator = propagation.TraceContext{}

// tracer returns the frontend's tracer from the current global provider,
// so a provider installed after start-up (or by a test) takes effect.
func tracer() trace.Tracer {
	return otel.Tracer("github.com/tidemarkmq/tidemark/services/frontend")
}

// startPublishSpan starts the span of one logged PUBLISH under the context
// found in rec's headers (copied there from the user properties) and
// writes the span's own context back, so consumers of the log continue it.
func startPublishSpan(client string, p *mqtt.Publish, rec *kafkalog.Record) trace.Span {
	ctx := tracing.Extract(context.Background(), rec)
	ctx, span := tracer().Start(ctx, "mqtt publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "mqtt"),
			attribute.String("messaging.destination.name", p.Topic),
			attribute.String("messaging.client.id", client),
			attribute.Int("mqtt.qos", int(p.QoS)),
		))
	if span.SpanContext().IsValid() {
		tracing.Inject(ctx, rec)
	}
	return span
}

// endSpan ends span with err's status.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceDelivery records the delivery of msg to client as a span under the
// publish span whose context the record carried.
func traceDelivery(client string, m *message, qos byte) {
	if m.traceparent == "" {
		return
	}
	carrier := propagation.MapCarrier{hdrTraceparent: m.traceparent, hdrTracestate: m.tracestate}
	ctx := propagator.Extract(context.Background(), carrier)
	_, span := tracer().Start(ctx, "mqtt deliver", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "mqtt"),
			attribute.String("messaging.destination.name", m.topic),
			attribute.String("messaging.client.id", client),
			attribute.Int("mqtt.qos", int(qos)),
			attribute.Int("messaging.kafka.partition", m.partition),
			attribute.Int64("messaging.kafka.offset", m.offset),
		))
	span.End()
}
