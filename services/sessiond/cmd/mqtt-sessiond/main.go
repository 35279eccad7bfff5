// Command mqtt-sessiond runs the session service: the consumer group that
// applies session ops to Redis, announces lifecycle events, expires
// sessions and fills offline queues. Every flag can also be set from the
// environment as TIDEMARK_<FLAG> (upper case, - as _).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
	"github.com/tidemarkmq/tidemark/services/admin"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mqtt-sessiond:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mqtt-sessiond", flag.ContinueOnError)
	host, _ := os.Hostname()
	var (
		httpAddr      = fs.String("http-addr", ":8081", "address of /healthz, /readyz and /metrics (empty: off)")
		node          = fs.String("node", host, "node name in the events this instance causes")
		groupID       = fs.String("group-id", "mqtt-sessiond", "consumer group id")
		maxQueued     = fs.Int("max-queued", 1000, "offline queue bound per session (oldest dropped beyond it)")
		queueQoS0     = fs.Bool("queue-qos0", true, "queue QoS 0 messages for offline sessions")
		defaultExpiry = fs.Duration("default-expiry", 2*time.Hour, "session expiry of MQTT 3.1.1 CleanSession=0 clients")
		maxExpiry     = fs.Duration("max-expiry", 0, "cap on every session expiry (0: none)")
		expiryCheck   = fs.Duration("expiry-check", time.Second, "how often offline sessions are checked for expiry")
		createTopics  = fs.Bool("create-topics", true, "create missing topics at start")
		partitions    = fs.Int("partitions", 8, "partitions of created topics")
		logFormat     = fs.String("log-format", "text", "log format: text or json")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn or error")
		otlpEndpoint  = fs.String("otlp-endpoint", "", "OTLP trace collector URL, e.g. http://127.0.0.1:4318 (protocol from OTEL_EXPORTER_OTLP_PROTOCOL; empty: OTEL_EXPORTER_OTLP_ENDPOINT, else no export)")
		pprofOn       = fs.Bool("pprof", false, "serve net/http/pprof profiles under /debug/pprof/ on --http-addr")
		adminAddr     = fs.String("admin-addr", "", "address of the admin API (empty: off; needs --admin-tokens)")
		adminTokens   = fs.String("admin-tokens", "", "admin API token file: name, role (read or admin) and secret per line, reloaded on change")
		aclFile       = fs.String("acl-file", "", "the frontends' Mosquitto-format ACL file, for the admin API's explain (empty: ACL unchecked)")
		reload        = fs.Duration("auth-reload-interval", auth.DefaultInterval, "how often the token and ACL files are checked for changes")
		nodeTimeout   = fs.Duration("node-timeout", 10*time.Second, "silence after which a frontend is declared dead and its connections ended (node_down); also bounds how long a dead instance keeps its partitions")
		topicPrefix   = fs.String("topic-prefix", "", "prefix of every topic name, for deployments sharing one Kafka cluster (the same in every process)")
		keyPrefix     = fs.String("key-prefix", "", "prefix of every Redis key, for deployments sharing one Redis (the same in every process)")
	)
	kafkaOpts := kafkalog.Flags(fs)
	redisOpts := redisconn.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := telemetry.ApplyEnv(fs); err != nil {
		return err
	}
	log, err := telemetry.NewLogger(*logFormat, *logLevel, os.Stderr)
	if err != nil {
		return err
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
	stopTracing, err := tracing.Start(ctx, tracing.Config{Service: "mqtt-sessiond", Node: *node, Endpoint: *otlpEndpoint}, log)
	if err != nil {
		return fmt.Errorf("--otlp-endpoint: %w", err)
	}
	defer stopTracing()

	topics := session.WithPrefix(*topicPrefix)
	reg := telemetry.NewRegistry()
	svc, err := sessiond.New(sessiond.Config{
		Node: *node, Kafka: kafka, RedisClient: rdb, KeyPrefix: *keyPrefix, Topics: topics, GroupID: *groupID, NodeTimeout: *nodeTimeout,
		MaxQueued: *maxQueued, QueueQoS0: *queueQoS0, DefaultExpiry: *defaultExpiry, MaxExpiry: *maxExpiry,
		ExpiryCheck: *expiryCheck, Logger: log, Registry: reg,
	})
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		srv := telemetry.NewHTTPServer(*httpAddr, reg, svc.Checks()...)
		if *pprofOn {
			srv.EnablePprof()
		}
		if err := srv.Start(); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("http listening", "addr", srv.Addr().String())
	}
	// Readiness answers (and fails) while Kafka refuses the credentials.
	if err := kafkalog.AwaitAccess(ctx, kafka, log); err != nil {
		return nil // stopped before Kafka accepted us
	}
	if *createTopics {
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := sessiond.EnsureTopics(tctx, kafka, topics, *partitions, retention(*maxExpiry))
		cancel()
		if err != nil {
			return err
		}
	}
	if *adminAddr != "" {
		api, err := admin.New(admin.Config{
			Addr: *adminAddr, Node: *node, Kafka: kafka, Redis: rdb, KeyPrefix: *keyPrefix, Topics: topics, Nodes: admin.LivenessNodes(svc.Nodes),
			TokenFile: *adminTokens, ACLFile: *aclFile, ReloadInterval: *reload,
			Logger: log, Registry: reg,
		})
		if err != nil {
			return fmt.Errorf("--admin-addr: %w", err)
		}
		if err := api.Start(); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = api.Shutdown(sctx)
		}()
	}
	log.Info("session service starting", "kafka", kafka.String(), "redis", redisOpts.String(), "node", *node)
	err = svc.Run(ctx)
	log.Info("session service stopped")
	return err
}

// retention keeps the messages and sessions logs at least as long as the
// longest session may stay offline (plus a day), or the cluster default
// when expiry is uncapped.
func retention(maxExpiry time.Duration) time.Duration {
	if maxExpiry == 0 {
		return 0
	}
	return max(maxExpiry+24*time.Hour, 7*24*time.Hour)
}
