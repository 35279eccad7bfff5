package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The Jaeger of the test stack (scripts/stack.sh up jaeger): its query API
// and its OTLP/HTTP receiver. TIDEMARK_JAEGER_QUERY and
// TIDEMARK_OTLP_ENDPOINT override the stack's default ports.
const (
	defaultJaegerQuery = "http://127.0.0.1:16686"
	defaultOTLP        = "http://127.0.0.1:4318"
)

// jaeger is a tracer provider exporting to the real Jaeger under a service
// name of its own, and the means to read the traces back.
type jaeger struct {
	t       *testing.T
	query   string
	service string
	tp      *sdktrace.TracerProvider
}

// exportToJaeger installs, for the rest of the test, a global tracer
// provider exporting over OTLP/HTTP to the stack's Jaeger, under a service
// name unique to this run. Without a reachable Jaeger the test is skipped,
// or fails when TIDEMARK_REQUIRE_STACK=1.
func exportToJaeger(t *testing.T) *jaeger {
	t.Helper()
	query := envOr("TIDEMARK_JAEGER_QUERY", defaultJaegerQuery)
	otlp := envOr("TIDEMARK_OTLP_ENDPOINT", defaultOTLP)
	if err := reachable(query + "/api/services"); err != nil {
		missingStack(t, fmt.Sprintf("jaeger query API %s: %v (start it with scripts/stack.sh up jaeger)", query, err))
	}
	u, err := url.Parse(otlp)
	if err != nil {
		t.Fatalf("TIDEMARK_OTLP_ENDPOINT %q: %v", otlp, err)
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	service := "tidemark-e2e-" + hex.EncodeToString(b)
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(100*time.Millisecond)),
		sdktrace.WithResource(res))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	})
	t.Logf("exporting spans to %s as service %s", otlp, service)
	return &jaeger{t: t, query: query, service: service, tp: tp}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return strings.TrimSuffix(v, "/")
	}
	return def
}

func reachable(u string) error {
	cl := http.Client{Timeout: 3 * time.Second}
	res, err := cl.Get(u)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", res.Status)
	}
	return nil
}

// jaegerTrace is one trace as the query API returns it.
type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64 `json:"startTime"` // microseconds
	Duration  int64 `json:"duration"`  // microseconds
	Tags      []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	Logs []struct {
		Fields []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"fields"`
	} `json:"logs"`
}

// event reports whether the span has an event (a Jaeger log) named name.
func (s *jaegerSpan) event(name string) bool {
	for _, l := range s.Logs {
		for _, f := range l.Fields {
			if f.Key == "event" && fmt.Sprint(f.Value) == name {
				return true
			}
		}
	}
	return false
}

// tag returns the value of tag key as text ("" when absent).
func (s *jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// parent returns the span id of the CHILD_OF reference ("" for a root).
func (s *jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// traces fetches the service's recent traces from the query API.
func (j *jaeger) traces() ([]jaegerTrace, error) {
	q := url.Values{"service": {j.service}, "limit": {"200"}, "lookback": {"1h"}}
	cl := http.Client{Timeout: 10 * time.Second}
	res, err := cl.Get(j.query + "/api/traces?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/traces: %s", res.Status)
	}
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode traces: %w", err)
	}
	return body.Data, nil
}

// waitTrace flushes the provider and polls Jaeger until a trace satisfies
// check (which returns "" when it does, else what is missing); it fails the
// test with the last complaint after waitFor.
func (j *jaeger) waitTrace(what string, check func(tr *jaegerTrace) string) *jaegerTrace {
	j.t.Helper()
	deadline := time.Now().Add(waitFor)
	last := "no trace yet"
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = j.tp.ForceFlush(ctx)
		cancel()
		trs, err := j.traces()
		if err != nil {
			last = err.Error()
		}
		for i := range trs {
			if why := check(&trs[i]); why == "" {
				return &trs[i]
			} else if why != "-" {
				last = fmt.Sprintf("trace %s: %s", trs[i].TraceID, why)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	j.t.Fatalf("%s: no matching trace in Jaeger within %v (%s)", what, waitFor, last)
	return nil
}

// byName returns the trace's spans named name.
func (tr *jaegerTrace) byName(name string) []*jaegerSpan {
	var out []*jaegerSpan
	for i := range tr.Spans {
		if tr.Spans[i].OperationName == name {
			out = append(out, &tr.Spans[i])
		}
	}
	return out
}

// publishOf returns the trace's publish span for an MQTT topic, nil if none.
func (tr *jaegerTrace) publishOf(topic string) *jaegerSpan {
	for _, s := range tr.byName("mqtt publish") {
		if s.tag("messaging.destination.name") == topic {
			return s
		}
	}
	return nil
}

// render draws the trace as an indented tree with durations, for the log.
func (tr *jaegerTrace) render() string {
	kids := map[string][]*jaegerSpan{}
	ids := map[string]bool{}
	for i := range tr.Spans {
		ids[tr.Spans[i].SpanID] = true
	}
	var roots []*jaegerSpan
	for i := range tr.Spans {
		s := &tr.Spans[i]
		if p := s.parent(); p != "" && ids[p] {
			kids[p] = append(kids[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s *jaegerSpan, depth int)
	walk = func(s *jaegerSpan, depth int) {
		fmt.Fprintf(&b, "%s%s  %.3fms", strings.Repeat("  ", depth), s.OperationName, float64(s.Duration)/1000)
		for _, k := range []string{"messaging.client.id", "messaging.destination.name", "messaging.destination.partition.id", "messaging.kafka.offset", "mqtt.replay"} {
			if v := s.tag(k); v != "" {
				fmt.Fprintf(&b, " %s=%s", k, v)
			}
		}
		b.WriteByte('\n')
		for _, k := range kids[s.SpanID] {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

// TestJaegerTraceLiveDelivery: a message published on frontend A and
// delivered to a subscriber on frontend B is one trace in the real Jaeger,
// holding the publish, its log append, the dispatch by B's follower of the
// log and the delivery to the subscriber, each a child of the one before
// (the append and the dispatch both of the publish).
func TestJaegerTraceLiveDelivery(t *testing.T) {
	j := exportToJaeger(t)
	c := newCluster(t, options{})
	sub, _ := c.dial(1, "jaeger-sub", true)
	sub.subscribe("jaeger/live", 1)
	pub, _ := c.dial(0, "jaeger-pub", true)
	pub.publish("jaeger/live", 1, "followed through jaeger")
	sub.waitMessages(1)

	send, process := "send "+c.topics.Messages, "process "+c.topics.Messages
	tr := j.waitTrace("live delivery", func(tr *jaegerTrace) string {
		p := tr.publishOf("jaeger/live")
		if p == nil {
			return "-"
		}
		var sends, procs, delivers []*jaegerSpan
		for _, s := range tr.byName(send) {
			if s.parent() == p.SpanID {
				sends = append(sends, s)
			}
		}
		for _, s := range tr.byName(process) {
			if s.parent() == p.SpanID {
				procs = append(procs, s)
			}
		}
		for _, d := range tr.byName("mqtt deliver") {
			for _, pr := range procs {
				if d.parent() == pr.SpanID && d.tag("messaging.client.id") == "jaeger-sub" {
					delivers = append(delivers, d)
				}
			}
		}
		switch {
		case len(sends) != 1:
			return fmt.Sprintf("%d %q children of the publish, want 1", len(sends), send)
		case len(procs) == 0:
			return fmt.Sprintf("no %q child of the publish", process)
		case len(delivers) != 1:
			return fmt.Sprintf("%d deliveries to jaeger-sub under a dispatch, want 1", len(delivers))
		}
		return ""
	})
	t.Logf("trace %s:\n%s", tr.TraceID, tr.render())
	p := tr.publishOf("jaeger/live")
	checks := []struct {
		span      *jaegerSpan
		key, want string
	}{
		{p, "messaging.system", "mqtt"},
		{p, "messaging.client.id", "jaeger-pub"},
		{p, "mqtt.qos", "1"},
		{tr.byName(send)[0], "messaging.system", "kafka"},
		{tr.byName(send)[0], "messaging.destination.name", c.topics.Messages},
		{tr.byName("mqtt deliver")[0], "messaging.system", "mqtt"},
	}
	for _, ck := range checks {
		if got := ck.span.tag(ck.key); got != ck.want {
			t.Errorf("%s: %s = %q, want %q", ck.span.OperationName, ck.key, got, ck.want)
		}
	}
	if off := tr.byName(send)[0].tag("messaging.kafka.offset"); off == "" {
		t.Error("the log append span has no offset")
	}
	if d := tr.byName("mqtt deliver")[0]; !d.event("puback") {
		t.Error("the QoS 1 delivery span does not end at the subscriber's PUBACK (no puback event)")
	}
}

// TestJaegerTraceOfflineReplay: a message published while its persistent
// subscriber is offline is queued by the session service and replayed when
// the subscriber reconnects on the other frontend; the message's trace in
// Jaeger holds the publish, the enqueue and the replayed delivery (a child
// of the publish, marked mqtt.replay), and the reconnect's CONNECT trace
// holds the session lookup and the replay.
func TestJaegerTraceOfflineReplay(t *testing.T) {
	j := exportToJaeger(t)
	c := newCluster(t, options{})
	sub, _ := c.dial(0, "jaeger-offline", false)
	sub.subscribe("jaeger/offline", 1)
	sub.disconnect()
	c.life.waitPaired("jaeger-offline")

	pub, _ := c.dial(0, "jaeger-offline-pub", true)
	pub.publish("jaeger/offline", 1, "kept for later")
	// The session service queues it (its enqueue span is the proof).
	j.waitTrace("enqueue", func(tr *jaegerTrace) string {
		p := tr.publishOf("jaeger/offline")
		if p == nil {
			return "-"
		}
		for _, s := range tr.byName("session enqueue") {
			if s.parent() == p.SpanID && s.tag("messaging.client.id") == "jaeger-offline" {
				return ""
			}
		}
		return "no session enqueue under the publish"
	})

	back, present := c.dial(1, "jaeger-offline", false)
	if !present {
		t.Fatal("session not present on reconnect")
	}
	back.waitMessages(1)

	tr := j.waitTrace("offline replay", func(tr *jaegerTrace) string {
		p := tr.publishOf("jaeger/offline")
		if p == nil {
			return "-"
		}
		for _, d := range tr.byName("mqtt deliver") {
			if d.parent() == p.SpanID && d.tag("mqtt.replay") == "true" && d.tag("messaging.client.id") == "jaeger-offline" {
				return ""
			}
		}
		return "no replayed delivery under the publish"
	})
	t.Logf("trace %s:\n%s", tr.TraceID, tr.render())

	conn := j.waitTrace("reconnect", func(tr *jaegerTrace) string {
		var connect *jaegerSpan
		for _, s := range tr.byName("mqtt connect") {
			if s.tag("messaging.client.id") == "jaeger-offline" && s.tag("mqtt.session_present") == "true" {
				connect = s
			}
		}
		if connect == nil {
			return "-"
		}
		var lookup, replay bool
		for _, s := range tr.byName("session lookup") {
			lookup = lookup || s.parent() == connect.SpanID
		}
		for _, s := range tr.byName("session replay") {
			replay = replay || s.parent() == connect.SpanID
		}
		if !lookup || !replay {
			return fmt.Sprintf("connect children: session lookup %v, session replay %v", lookup, replay)
		}
		return ""
	})
	t.Logf("trace %s:\n%s", conn.TraceID, conn.render())
}
