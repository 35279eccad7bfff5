package kafkalog

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// The W3C trace context travels in record headers (traceparent,
// tracestate), so the spans of every process that handles a record join the
// trace of whoever wrote it (ARCHITECTURE.md invariant 8).

// traceContext is the W3C trace context format of the headers.
var traceContext = propagation.TraceContext{}

// InjectTrace writes the trace context of ctx into rec's headers,
// replacing earlier traceparent/tracestate headers. Without a span in ctx it
// adds nothing.
func InjectTrace(ctx context.Context, rec *Record) {
	traceContext.Inject(ctx, recordCarrier{rec})
}

// ExtractTrace returns ctx carrying the remote span context found in rec's
// headers, to parent the spans of whoever processes the record.
func ExtractTrace(ctx context.Context, rec *Record) context.Context {
	return traceContext.Extract(ctx, recordCarrier{rec})
}

// recordCarrier adapts a record's headers to the propagator.
type recordCarrier struct{ rec *Record }

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
	c.rec.Headers = append(c.rec.Headers, Header{Key: key, Value: []byte(value)})
}

func (c recordCarrier) Keys() []string {
	keys := make([]string, len(c.rec.Headers))
	for i, h := range c.rec.Headers {
		keys[i] = h.Key
	}
	return keys
}
