package tracing

import (
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// defaultProvider is the global provider before anyone installs one: the
// otel package's delegating placeholder, whose spans record nothing.
var defaultProvider = otel.GetTracerProvider()

// Tracer is a named tracer of the current global provider for hot paths:
// Get costs one atomic load while the provider stays the same, and reports
// whether spans can be recorded at all, so callers skip building spans and
// attributes when tracing is off. A provider installed later (by Setup or a
// test) takes effect at the next Get.
type Tracer struct {
	name  string
	cache atomic.Pointer[tracerCache]
}

type tracerCache struct {
	tp trace.TracerProvider
	t  trace.Tracer
	on bool
}

// NewTracer returns a Tracer for the instrumentation scope name.
func NewTracer(name string) *Tracer { return &Tracer{name: name} }

// Get returns the tracer and whether a real provider is installed.
func (t *Tracer) Get() (trace.Tracer, bool) {
	tp := otel.GetTracerProvider()
	if c := t.cache.Load(); c != nil && c.tp == tp {
		return c.t, c.on
	}
	_, isNoop := tp.(noop.TracerProvider)
	c := &tracerCache{tp: tp, t: tp.Tracer(t.name), on: tp != defaultProvider && !isNoop}
	t.cache.Store(c)
	return c.t, c.on
}

// On reports whether spans can be recorded (a real provider is installed).
func (t *Tracer) On() bool {
	_, on := t.Get()
	return on
}
