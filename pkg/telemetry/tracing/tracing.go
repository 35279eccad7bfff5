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
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Config configures Setup. The standard OpenTelemetry environment variables
// apply to whatever Config leaves unset: OTEL_EXPORTER_OTLP_ENDPOINT and
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (collector), OTEL_EXPORTER_OTLP_PROTOCOL
// and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (http/protobuf, the default, or
// grpc), OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (resource),
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (sampler), and
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none (tracing off).
type Config struct {
	// Service is the default service.name of every span ("mqtt-frontend",
	// ...); OTEL_SERVICE_NAME overrides it.
	Service string
	// Node is the service.instance.id (the node name of ops and events).
	Node string
	// Endpoint is the OTLP collector base URL, such as
	// "http://127.0.0.1:4318" (Jaeger's OTLP/HTTP port; with protocol grpc,
	// its port 4317). It wins over the
	// OTEL_EXPORTER_OTLP_* variables. With neither, nothing is exported
	// and no tracer provider is installed, so spans cost next to nothing;
	// trace context is still propagated, so traces stay connected through
	// processes that do not export.
	Endpoint string
	// SampleRatio, when in (0, 1], samples that fraction of new traces;
	// traces started elsewhere keep their parent's decision. Zero leaves
	// the sampler to OTEL_TRACES_SAMPLER (default: parentbased_always_on).
	SampleRatio float64
}

// ErrBadEndpoint is wrapped by Setup for an Endpoint that is not an http or
// https URL.
var ErrBadEndpoint = errors.New("tracing endpoint must be an http(s) URL")

// ErrBadProtocol is wrapped by Setup for an OTLP protocol other than
// http/protobuf and grpc.
var ErrBadProtocol = errors.New("OTLP protocol must be http/protobuf or grpc")

// propagator is the W3C trace context, the format of the traceparent and
// tracestate headers docs/design.md puts on records.
var propagator = propagation.TraceContext{}

// Environment variables Setup looks at itself; the exporter, resource and
// sampler read the rest.
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envServiceName    = "OTEL_SERVICE_NAME"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// protocol is the OTLP transport the environment asks for.
func protocol() string {
	if p := os.Getenv(envTracesProtocol); p != "" {
		return p
	}
	if p := os.Getenv(envProtocol); p != "" {
		return p
	}
	return "http/protobuf"
}

// enabled reports whether cfg and the environment ask for export.
func enabled(cfg Config) bool {
	if strings.EqualFold(os.Getenv(envSDKDisabled), "true") || strings.EqualFold(os.Getenv(envTracesExporter), "none") {
		return false
	}
	return cfg.Endpoint != "" || os.Getenv(envEndpoint) != "" || os.Getenv(envTracesEndpoint) != ""
}

// Setup installs the global propagator and, when export is configured (see
// Config and enabled), a tracer provider batching spans to the OTLP/HTTP
// collector. It returns the function that flushes and stops them (call it
// at shutdown, bounded by its context).
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	noop := func(context.Context) error { return nil }
	if !enabled(cfg) {
		return noop, nil
	}
	exp, err := newExporter(ctx, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	res, err := newResource(cfg)
	if err != nil {
		return nil, err
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if r := cfg.SampleRatio; r > 0 && r <= 1 {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r))))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// flushTimeout bounds the flush of the spans still buffered at shutdown, so
// an unreachable collector cannot hold up a stopping process.
const flushTimeout = 5 * time.Second

// Start is Setup for a binary's main: the function it returns flushes the
// buffered spans within flushTimeout and logs, rather than returns, a
// failure to do so (the process is stopping anyway).
func Start(ctx context.Context, cfg Config, log *slog.Logger) (stop func(), err error) {
	shutdown, err := Setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return func() {
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if err := shutdown(fctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}, nil
}

// newExporter builds the OTLP exporter for endpoint (empty: the exporter
// reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself) over the protocol the
// environment names.
func newExporter(ctx context.Context, endpoint string) (sdktrace.SpanExporter, error) {
	var u *url.URL
	if endpoint != "" {
		var err error
		u, err = url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q: %w", endpoint, ErrBadEndpoint)
		}
	}
	switch p := protocol(); p {
	case "http/protobuf":
		var opts []otlptracehttp.Option
		if u != nil {
			opts = append(opts, otlptracehttp.WithEndpoint(u.Host))
			if u.Scheme == "http" {
				opts = append(opts, otlptracehttp.WithInsecure())
			}
			if u.Path != "" && u.Path != "/" {
				opts = append(opts, otlptracehttp.WithURLPath(u.Path))
			}
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		return exp, nil
	case "grpc":
		var opts []otlptracegrpc.Option
		if u != nil {
			opts = append(opts, otlptracegrpc.WithEndpoint(u.Host))
			if u.Scheme == "http" {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		return exp, nil
	default:
		return nil, fmt.Errorf("%q: %w", p, ErrBadProtocol)
	}
}

// newResource is the resource of cfg's spans: the SDK defaults, service.name
// (OTEL_SERVICE_NAME, else cfg.Service) and service.instance.id, with
// OTEL_RESOURCE_ATTRIBUTES on top.
func newResource(cfg Config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceInstanceID(cfg.Node)}
	if os.Getenv(envServiceName) == "" && cfg.Service != "" {
		attrs = append(attrs, semconv.ServiceName(cfg.Service))
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, attrs...))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	if res, err = resource.Merge(res, resource.Environment()); err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return res, nil
}
