package startup

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// Common holds the flags every binary that keeps sessions has: the ones
// the frontend and the session service share (the standalone broker, which
// is both, registers them once), and those of the process itself (logging,
// tracing, the HTTP endpoints).
type Common struct {
	// Node names this process in ops and events.
	Node string
	// TopicPrefix and KeyPrefix separate deployments sharing one Kafka
	// cluster or one Redis; every process of a deployment uses the same.
	TopicPrefix, KeyPrefix string
	// Partitions and CreateTopics describe the topics created at start.
	Partitions   int
	CreateTopics bool
	// DefaultExpiry is the session expiry of MQTT 3.1.1 CleanSession=0
	// clients; MaxExpiry caps every session expiry (0: none).
	DefaultExpiry, MaxExpiry time.Duration
	// HTTPAddr serves /healthz, /readyz and /metrics (and /debug/pprof
	// with Pprof).
	HTTPAddr string
	Pprof    bool
	// LogFormat and LogLevel configure the logger; OTLPEndpoint the trace
	// export.
	LogFormat, LogLevel, OTLPEndpoint string
}

// CommonFlags registers the common flags on fs; httpAddr is the default of
// --http-addr, which differs by binary.
func CommonFlags(fs *flag.FlagSet, httpAddr string) *Common {
	host, _ := os.Hostname()
	c := &Common{}
	fs.StringVar(&c.Node, "node", host, "node name in ops and events (unique per role: two frontends never share one)")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", "", "prefix of every topic name, for deployments sharing one Kafka cluster (the same in every process)")
	fs.StringVar(&c.KeyPrefix, "key-prefix", "", "prefix of every Redis key, for deployments sharing one Redis (the same in every process)")
	fs.IntVar(&c.Partitions, "partitions", 8, "partitions of created messages, sessions and lifecycle topics")
	fs.BoolVar(&c.CreateTopics, "create-topics", true, "create missing topics at start")
	fs.DurationVar(&c.DefaultExpiry, "default-expiry", 2*time.Hour, "session expiry of MQTT 3.1.1 CleanSession=0 clients")
	fs.DurationVar(&c.MaxExpiry, "max-expiry", 0, "cap on every session expiry (0: none)")
	fs.StringVar(&c.HTTPAddr, "http-addr", httpAddr, "address of /healthz, /readyz and /metrics (empty: off)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve net/http/pprof profiles under /debug/pprof/ on --http-addr")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OTLP trace collector URL, e.g. http://127.0.0.1:4318 (protocol from OTEL_EXPORTER_OTLP_PROTOCOL; empty: OTEL_EXPORTER_OTLP_ENDPOINT, else no export)")
	return c
}

// Topics are the deployment's topic names.
func (c *Common) Topics() session.Topics { return session.WithPrefix(c.TopicPrefix) }

// Logger builds the process's logger, writing to w.
func (c *Common) Logger(w io.Writer) (*slog.Logger, error) {
	return telemetry.NewLogger(c.LogFormat, c.LogLevel, w)
}

// Retention keeps the messages and sessions logs at least as long as the
// longest session may stay offline (plus a day), or the cluster default
// when expiry is uncapped.
func (c *Common) Retention() time.Duration {
	if c.MaxExpiry == 0 {
		return 0
	}
	return max(c.MaxExpiry+24*time.Hour, 7*24*time.Hour)
}

// ServeHTTP starts the health, readiness and metrics server of --http-addr
// (none when it is empty) with the given readiness checks, and returns the
// function that stops it.
func (c *Common) ServeHTTP(reg *prometheus.Registry, checks []telemetry.Check, log *slog.Logger) (stop func(), err error) {
	if c.HTTPAddr == "" {
		return func() {}, nil
	}
	hs := telemetry.NewHTTPServer(c.HTTPAddr, reg, checks...)
	if c.Pprof {
		hs.EnablePprof()
	}
	if err := hs.Start(); err != nil {
		return nil, err
	}
	log.Info("http listening", "addr", hs.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}, nil
}
