// Package tracing sets up OpenTelemetry tracing for a tidemark binary and
// carries the W3C trace context across the log in Kafka record headers
// (traceparent, tracestate), so one trace shows publish, log append,
// fan-out and delivery even though they happen in different processes.
//
// It lives apart from package telemetry so that binaries and tests that do
// not trace do not link the exporter.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Config configures Setup.
type Config struct {
	// Service is the service.name of every span ("mqtt-frontend", ...).
	Service string
	// Node is the service.instance.id (the node name of ops and events).
	Node string
	// Endpoint is the OTLP/HTTP collector base URL, such as
	// "http://127.0.0.1:4318" (Jaeger's OTLP port). Empty disables export;
	// trace context is still propagated, so traces stay connected through
	// processes that do not export.
	Endpoint string
	// SampleRatio is the fraction of new traces recorded, 0 < r <= 1;
	// default 1. Traces started elsewhere keep their parent's decision.
	SampleRatio float64
}

// ErrBadEndpoint is wrapped by Setup for an Endpoint that is not an http or
// https URL.
var ErrBadEndpoint = errors.New("tracing endpoint must be an http(s) URL")

// propagator is the W3C trace context, the format of the traceparent and
// tracestate headers docs/design.md puts on records.
var propagator = propagation.TraceContext{}

// Setup installs the global tracer provider and propagator and returns the
// function that flushes and stops them (call it at shutdown, bounded by its
// context).
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if cfg.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: %w", cfg.Endpoint, ErrBadEndpoint)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host)}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if u.Path != "" && u.Path != "/" {
		opts = append(opts, otlptracehttp.WithURLPath(u.Path))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(cfg.Service), semconv.ServiceInstanceID(cfg.Node)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Inject writes the trace context of ctx into rec's headers, replacing
// earlier traceparent/tracestate headers. Without a span in ctx it adds
// nothing.
func Inject(ctx context.Context, rec *kafkalog.Record) {
	c := recordCarrier{rec}
	propagator.Inject(ctx, c)
}

// Extract returns ctx carrying the remote span context found in rec's
// headers, to parent the spans of whoever processes the record.
func Extract(ctx context.Context, rec *kafkalog.Record) context.Context {
	return propagator.Extract(ctx, recordCarrier{rec})
}

// recordCarrier adapts a record's headers to the propagator.
type recordCarrier struct{ rec *kafkalog.Record }

func (c recordCarrier) Get(key string) string {
	v, _ := c.rec.Header(key)
	return string(v)
}

func (c recordCarrier) Set(key, value string) {
	for i := range c.rec.Headers {
		if c.rec.Headers[i].Key == key {
			c.rec.Headers[i].Value = []byte(value)
			return
		}
	}
	c.rec.Headers = append(c.rec.Headers, kafkalog.Header{Key: key, Value: []byte(value)})
}

func (c recordCarrier) Keys() []string {
	keys := make([]string, len(c.rec.Headers))
	for i, h := range c.rec.Headers {
		keys[i] = h.Key
	}
	return keys
}
