// Command mqtt-frontend runs one MQTT frontend node: MQTT over TCP, TLS,
// WebSocket and secure WebSocket, with health, readiness and metrics over
// HTTP. Every flag can also be set from the environment as TIDEMARK_<FLAG>
// (upper case, - as _). SIGINT/SIGTERM drain the connections and exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mqtt-frontend:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mqtt-frontend", flag.ContinueOnError)
	host, _ := os.Hostname()
	var (
		mqttAddr      = fs.String("mqtt-addr", ":1883", "MQTT over TCP listen address (empty: off)")
		wsAddr        = fs.String("ws-addr", ":8083", "MQTT over WebSocket listen address, path /mqtt (empty: off)")
		tlsAddr       = fs.String("tls-addr", "", "MQTT over TLS listen address (default :8883 when --tls-cert is set)")
		wssAddr       = fs.String("wss-addr", "", "MQTT over secure WebSocket listen address (default :8084 when --tls-cert is set)")
		tlsCert       = fs.String("tls-cert", "", "PEM certificate file for TLS and WSS (reloaded when it changes)")
		tlsKey        = fs.String("tls-key", "", "PEM private key file for TLS and WSS (reloaded when it changes)")
		tlsClientCA   = fs.String("tls-client-ca", "", "PEM CA file; when set, client certificates are required (reloaded when it changes)")
		httpAddr      = fs.String("http-addr", ":8080", "address of /healthz, /readyz and /metrics (empty: off)")
		node          = fs.String("node", host, "node name in session ops")
		maxPacket     = fs.Int("max-packet-size", 1<<20, "largest accepted MQTT packet in bytes")
		connTimeout   = fs.Duration("connect-timeout", 5*time.Second, "time from accept to CONNECT (and TLS handshake) before the socket is closed")
		receiveMax    = fs.Int("receive-maximum", 1000, "unacknowledged QoS 1/2 PUBLISHes an MQTT 5 client may send (Receive Maximum)")
		maxPending    = fs.Int("max-pending", 10000, "messages waiting for one connection before it is closed as a slow consumer")
		defaultExpiry = fs.Duration("default-expiry", 2*time.Hour, "session expiry of MQTT 3.1.1 CleanSession=0 clients")
		maxExpiry     = fs.Duration("max-expiry", 0, "cap on every session expiry (0: none)")
		maxKeepAlive  = fs.Int("max-keepalive", 0, "cap on the client keep alive in seconds (0: none)")
		createTopics  = fs.Bool("create-topics", true, "create missing topics at start")
		partitions    = fs.Int("partitions", 8, "partitions of created messages and sessions topics")
		logFormat     = fs.String("log-format", "text", "log format: text or json")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn or error")
		otlpEndpoint  = fs.String("otlp-endpoint", "", "OTLP trace collector URL, e.g. http://127.0.0.1:4318 (protocol from OTEL_EXPORTER_OTLP_PROTOCOL; empty: OTEL_EXPORTER_OTLP_ENDPOINT, else no export)")
		pprofOn       = fs.Bool("pprof", false, "serve net/http/pprof profiles under /debug/pprof/ on --http-addr")
		heartbeat     = fs.Duration("heartbeat-interval", time.Second, "how often this frontend beats on the nodes topic (keep it well below the session service's --node-timeout)")
		topicPrefix   = fs.String("topic-prefix", "", "prefix of every topic name, for deployments sharing one Kafka cluster (the same in every process)")
		keyPrefix     = fs.String("key-prefix", "", "prefix of every Redis key, for deployments sharing one Redis (the same in every process)")
	)
	kafkaOpts := kafkalog.Flags(fs)
	redisOpts := redisconn.Flags(fs)
	authOpts := frontend.AuthFlags(fs)
	limits := frontend.LimitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := telemetry.ApplyEnv(fs); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *tlsCert != "" {
		if !set["tls-addr"] {
			*tlsAddr = ":8883"
		}
		if !set["wss-addr"] {
			*wssAddr = ":8084"
		}
	}
	log, err := telemetry.NewLogger(*logFormat, *logLevel, os.Stderr)
	if err != nil {
		return err
	}
	for _, a := range []string{*mqttAddr, *wsAddr, *tlsAddr, *wssAddr, *httpAddr} {
		if err := telemetry.CheckListen(a); err != nil {
			return err
		}
	}
	kafka, err := kafkaOpts.Cluster(log)
	if err != nil {
		return err
	}
	rdb, err := redisOpts.Client(log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopTracing, err := tracing.Start(ctx, tracing.Config{Service: "mqtt-frontend", Node: *node, Endpoint: *otlpEndpoint}, log)
	if err != nil {
		return fmt.Errorf("--otlp-endpoint: %w", err)
	}
	defer stopTracing()

	topics := session.WithPrefix(*topicPrefix)
	authz, err := frontend.NewAuthorizer(ctx, log, *authOpts)
	if err != nil {
		return err
	}
	reg := telemetry.NewRegistry()
	srv, err := frontend.New(frontend.Config{
		Auth: authz, Limits: *limits,
		Node: *node, MQTTAddr: *mqttAddr, WSAddr: *wsAddr, TLSAddr: *tlsAddr, WSSAddr: *wssAddr,
		TLSCert: *tlsCert, TLSKey: *tlsKey, TLSClientCA: *tlsClientCA,
		Kafka: kafka, RedisClient: rdb, KeyPrefix: *keyPrefix, Topics: topics, MaxPacketSize: *maxPacket,
		ConnectTimeout: *connTimeout, ReceiveMaximum: *receiveMax, MaxPending: *maxPending,
		DefaultExpiry: *defaultExpiry, MaxExpiry: *maxExpiry, MaxKeepAlive: *maxKeepAlive,
		HeartbeatInterval: *heartbeat, Logger: log, Registry: reg,
	})
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		hs := telemetry.NewHTTPServer(*httpAddr, reg, srv.Checks()...)
		if *pprofOn {
			hs.EnablePprof()
		}
		if err := hs.Start(); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
		log.Info("http listening", "addr", hs.Addr().String())
	}
	// Readiness answers (and fails) while Kafka refuses the credentials.
	if err := kafkalog.AwaitAccess(ctx, kafka, log); err != nil {
		return nil // stopped before Kafka accepted us
	}
	if *createTopics {
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := session.EnsureTopics(tctx, kafka, topics, *partitions, 0)
		cancel()
		if err != nil {
			return fmt.Errorf("create topics: %w", err)
		}
	}
	log.Info("frontend starting", "kafka", kafka.String(), "redis", redisOpts.String(), "node", *node)
	err = srv.Run(ctx)
	log.Info("frontend stopped")
	return err
}
