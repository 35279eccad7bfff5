package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestSetupExportsSpans(t *testing.T) {
	got := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	exportOneSpan(t, Config{Service: "test", Node: "n1", Endpoint: srv.URL})
	select {
	case req := <-got:
		if req != "POST /v1/traces" {
			t.Fatalf("collector got %q", req)
		}
	default:
		t.Fatal("no export reached the collector by shutdown")
	}
}

func TestSetupRejectsBadEndpoint(t *testing.T) {
	for _, ep := range []string{"127.0.0.1:4318", "ftp://x", "http://"} {
		t.Run(ep, func(t *testing.T) {
			if _, err := Setup(context.Background(), Config{Endpoint: ep}); !errors.Is(err, ErrBadEndpoint) {
				t.Fatalf("err %v, want ErrBadEndpoint", err)
			}
		})
	}
}

// TestSetupFromEnvironment: with no Endpoint, the standard OTEL_*
// variables decide whether and where spans go, and under which service.
func TestSetupFromEnvironment(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	tests := []struct {
		name       string
		env        map[string]string
		cfg        Config
		wantExport bool
	}{
		{"nothing configured", nil, Config{Service: "svc"}, false},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", map[string]string{envEndpoint: "SRV"}, Config{Service: "svc"}, true},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", map[string]string{envTracesEndpoint: "SRV/v1/traces"}, Config{Service: "svc"}, true},
		{"OTEL_SDK_DISABLED wins", map[string]string{envEndpoint: "SRV", envSDKDisabled: "true"}, Config{Service: "svc"}, false},
		{"OTEL_TRACES_EXPORTER=none wins", map[string]string{envEndpoint: "SRV", envTracesExporter: "none"}, Config{Service: "svc"}, false},
		{"sampler off", map[string]string{envEndpoint: "SRV", "OTEL_TRACES_SAMPLER": "always_off"}, Config{Service: "svc"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 16)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.URL.Path
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			for _, k := range []string{envEndpoint, envTracesEndpoint, envSDKDisabled, envTracesExporter, envServiceName, "OTEL_TRACES_SAMPLER"} {
				t.Setenv(k, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "SRV", srv.URL))
			}
			exportOneSpan(t, tt.cfg)
			select {
			case p := <-got:
				if !tt.wantExport {
					t.Fatalf("exported to %s, want nothing", p)
				}
			default:
				if tt.wantExport {
					t.Fatal("nothing exported")
				}
			}
		})
	}
}

func TestResourceServiceName(t *testing.T) {
	tests := []struct {
		env, cfg, want string
	}{
		{"", "mqtt-frontend", "mqtt-frontend"},
		{"edge-frontend", "mqtt-frontend", "edge-frontend"},
	}
	for _, tt := range tests {
		t.Setenv(envServiceName, tt.env)
		res, err := newResource(Config{Service: tt.cfg, Node: "n1"})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := res.Set().Value("service.name")
		if got.AsString() != tt.want {
			t.Errorf("OTEL_SERVICE_NAME=%q, Service=%q: service.name %q, want %q", tt.env, tt.cfg, got.AsString(), tt.want)
		}
		if id, _ := res.Set().Value("service.instance.id"); id.AsString() != "n1" {
			t.Errorf("service.instance.id %q", id.AsString())
		}
	}
}

// TestTracerFollowsTheGlobalProvider: the cached tracer reports off for
// the default and a no-op provider, on for a real one, and notices a
// change of provider.
func TestTracerFollowsTheGlobalProvider(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	tr := NewTracer("test")
	if prev == defaultProvider && tr.On() {
		t.Fatal("on with no provider installed")
	}
	otel.SetTracerProvider(noop.NewTracerProvider())
	if tr.On() {
		t.Fatal("on with a no-op provider")
	}
	tp := sdktrace.NewTracerProvider()
	otel.SetTracerProvider(tp)
	if !tr.On() {
		t.Fatal("off with an SDK provider")
	}
	tracer, _ := tr.Get()
	if _, span := tracer.Start(context.Background(), "x"); !span.IsRecording() {
		t.Fatal("span of the SDK provider not recording")
	}
}

// exportOneSpan sets tracing up with cfg, ends one span and shuts down,
// which flushes the span to the configured collector, if any.
func exportOneSpan(t *testing.T, cfg Config) {
	t.Helper()
	ctx := context.Background()
	shutdown, err := Setup(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(ctx, "op")
	span.End()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatal(err)
	}
}
