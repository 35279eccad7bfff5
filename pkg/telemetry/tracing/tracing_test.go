package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

func TestInjectExtractRoundTrip(t *testing.T) {
	if _, err := Setup(context.Background(), Config{Service: "test"}); err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	tests := []struct {
		name        string
		ctx         context.Context
		headers     []kafkalog.Header
		wantHeaders int
		wantValid   bool
	}{
		{"no span adds nothing", context.Background(), nil, 0, false},
		{"span", trace.ContextWithSpanContext(context.Background(), sc), nil, 1, true},
		{"keeps other headers", trace.ContextWithSpanContext(context.Background(), sc), []kafkalog.Header{{Key: "mqtt-qos", Value: []byte("1")}}, 2, true},
		{"replaces a stale traceparent", trace.ContextWithSpanContext(context.Background(), sc),
			[]kafkalog.Header{{Key: "traceparent", Value: []byte("00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01")}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &kafkalog.Record{Topic: "t", Headers: tt.headers}
			Inject(tt.ctx, rec)
			if len(rec.Headers) != tt.wantHeaders {
				t.Fatalf("headers %+v, want %d", rec.Headers, tt.wantHeaders)
			}
			got := trace.SpanContextFromContext(Extract(context.Background(), rec))
			if got.IsValid() != tt.wantValid {
				t.Fatalf("extracted valid=%v, want %v", got.IsValid(), tt.wantValid)
			}
			if tt.wantValid && (got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote()) {
				t.Fatalf("extracted %v, want remote %v", got, sc)
			}
		})
	}
}

func TestSetupExportsSpans(t *testing.T) {
	got := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx := context.Background()
	shutdown, err := Setup(ctx, Config{Service: "test", Node: "n1", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(ctx, "publish")
	span.End()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatal(err)
	}
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
