package kafkalog

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestInjectExtractTrace(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	traced := trace.ContextWithSpanContext(context.Background(), sc)
	tests := []struct {
		name        string
		ctx         context.Context
		headers     []Header
		wantHeaders int
		wantValid   bool
	}{
		{"no span adds nothing", context.Background(), nil, 0, false},
		{"span", traced, nil, 1, true},
		{"keeps other headers", traced, []Header{{Key: HeaderQoS, Value: []byte("1")}}, 2, true},
		{"replaces a stale traceparent", traced,
			[]Header{{Key: HeaderTraceparent, Value: []byte("00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01")}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{Topic: "t", Headers: tt.headers}
			InjectTrace(tt.ctx, rec)
			if len(rec.Headers) != tt.wantHeaders {
				t.Fatalf("headers %v, want %d", rec.Headers, tt.wantHeaders)
			}
			got := trace.SpanContextFromContext(ExtractTrace(context.Background(), rec))
			if got.IsValid() != tt.wantValid {
				t.Fatalf("extracted valid=%v, want %v", got.IsValid(), tt.wantValid)
			}
			if tt.wantValid && (got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID()) {
				t.Fatalf("extracted %v, want %v", got, sc)
			}
		})
	}
}
