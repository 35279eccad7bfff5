// Command mqtt-standalone runs the whole broker in one process: MQTT
// frontend, session service, and embedded Kafka and Redis keeping their
// state in one data directory. Every flag can also be set through the
// environment as TIDEMARK_<FLAG> (upper case, - as _).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/standalone"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so the exit code is testable; it
// returns when ctx ends or on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqtt-standalone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg standalone.Config
	fs.StringVar(&cfg.MQTTAddr, "mqtt-addr", ":1883", "MQTT over TCP listen address (empty = off)")
	fs.StringVar(&cfg.WSAddr, "ws-addr", ":8083", "MQTT over WebSocket listen address (empty = off)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", ":8080", "health, readiness and metrics listen address (empty = off)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "directory for the embedded Kafka log and Redis snapshot")
	fs.StringVar(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:0", "embedded Kafka loopback address (port 0 = free port)")
	fs.StringVar(&cfg.RedisAddr, "redis-addr", "127.0.0.1:0", "embedded Redis loopback address (port 0 = free port)")
	fs.StringVar(&cfg.Node, "node", "", "node name in ops and events (default: host name)")
	fs.IntVar(&cfg.MaxQueued, "max-queued", 1000, "offline queue bound per session (drop oldest beyond)")
	fs.BoolVar(&cfg.QueueQoS0, "queue-qos0", true, "queue QoS 0 messages for offline sessions")
	fs.DurationVar(&cfg.DefaultExpiry, "default-expiry", 2*time.Hour, "session expiry of MQTT 3.1.1 clean-session=false clients")
	fs.DurationVar(&cfg.MaxExpiry, "max-expiry", 0, "cap on any session expiry (0 = none)")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "", "admin API listen address (empty = off; needs --admin-tokens)")
	fs.StringVar(&cfg.AdminTokenFile, "admin-tokens", "", "admin API token file: name, role (read or admin) and secret per line, reloaded on change")
	fs.DurationVar(&cfg.NodeTimeout, "node-timeout", 10*time.Second, "silence after which a frontend is declared dead and its connections ended (node_down)")
	otlp := fs.String("otlp-endpoint", "", "OTLP trace collector URL, e.g. http://127.0.0.1:4318 (protocol from OTEL_EXPORTER_OTLP_PROTOCOL; empty = OTEL_EXPORTER_OTLP_ENDPOINT, else no export)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	authOpts := frontend.AuthFlags(fs)
	limits := frontend.LimitFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := telemetry.ApplyEnv(fs); err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: %v\n", err)
		return 1
	}
	log, err := telemetry.NewLogger(*logFormat, *logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: --log-format/--log-level: %v\n", err)
		return 1
	}
	cfg.Logger = log
	cfg.ACLFile, cfg.ReloadInterval = authOpts.ACLFile, authOpts.ReloadInterval

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopTracing, err := tracing.Start(ctx, tracing.Config{Service: "mqtt-standalone", Node: cfg.Node, Endpoint: *otlp}, log)
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: --otlp-endpoint: %v\n", err)
		return 1
	}
	defer stopTracing()
	// Bad input first, as one line, before the authorizer logs warnings.
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: %v\n", err)
		return 1
	}
	if cfg.Auth, err = frontend.NewAuthorizer(ctx, log, *authOpts); err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: %v\n", err)
		return 1
	}
	cfg.Limits = *limits
	srv, err := standalone.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: %v\n", err)
		return 1
	}
	a := srv.Addrs()
	fmt.Fprintf(stdout, "mqtt-standalone started\n  mqtt:  %s\n  ws:    %s\n  http:  %s\n  admin: %s\n  kafka: %s (embedded)\n  redis: %s (embedded)\n  data:  %s\n",
		addrOrOff(a.MQTT), addrOrOff(a.WS), addrOrOff(a.HTTP), addrOrOff(a.Admin), a.Kafka, a.Redis, cfg.DataDir)

	<-ctx.Done()
	stop() // a second signal kills the process the default way
	log.Info("shutting down")
	srv.Stop()
	log.Info("stopped")
	return 0
}

func addrOrOff(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
