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
	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
	"github.com/tidemarkmq/tidemark/pkg/startup"
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
	common := startup.CommonFlags(fs, ":8080")
	fe := frontend.RegisterFlags(fs)
	kafkaOpts := kafkalog.Flags(fs)
	redisOpts := redisconn.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := telemetry.ApplyEnv(fs); err != nil {
		return err
	}
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}
	cfg := frontend.Config{Node: common.Node, KeyPrefix: common.KeyPrefix, Topics: common.Topics(),
		DefaultExpiry: common.DefaultExpiry, MaxExpiry: common.MaxExpiry, Logger: log}
	fe.Apply(&cfg)
	for name, a := range fe.Listeners() {
		if err := telemetry.CheckListen(a); err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
	}
	if err := telemetry.CheckListen(common.HTTPAddr); err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	if cfg.Kafka, err = kafkaOpts.Cluster(log); err != nil {
		return err
	}
	rdb, err := redisOpts.Client(log)
	if err != nil {
		return err
	}
	defer rdb.Close()
	cfg.RedisClient = rdb
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopTracing, err := tracing.Start(ctx, tracing.Config{Service: "mqtt-frontend", Node: common.Node, Endpoint: common.OTLPEndpoint}, log)
	if err != nil {
		return fmt.Errorf("--otlp-endpoint: %w", err)
	}
	defer stopTracing()

	if cfg.Auth, err = frontend.NewAuthorizer(ctx, log, *fe.Auth); err != nil {
		return err
	}
	reg := telemetry.NewRegistry()
	cfg.Registry = reg
	srv, err := frontend.New(cfg)
	if err != nil {
		return err
	}
	stopHTTP, err := common.ServeHTTP(reg, srv.Checks(), log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	// Readiness answers (and fails) while Kafka refuses the credentials.
	if err := kafkalog.AwaitAccess(ctx, cfg.Kafka, log); err != nil {
		return nil // stopped before Kafka accepted us
	}
	if common.CreateTopics {
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := startup.EnsureTopics(tctx, cfg.Kafka, cfg.Topics, common.Partitions, 0)
		cancel()
		if err != nil {
			return fmt.Errorf("create topics: %w", err)
		}
	}
	log.Info("frontend starting", "kafka", cfg.Kafka.String(), "redis", redisOpts.String(), "node", common.Node)
	err = srv.Run(ctx)
	log.Info("frontend stopped")
	return err
}
