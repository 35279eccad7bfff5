// Command mqtt-sessiond runs the session service: the consumer group that
// applies session ops to Redis, announces lifecycle events, expires
// sessions, publishes wills, declares dead frontends down and fills offline
// queues; optionally it serves the operators' admin API. Every flag can
// also be set from the environment as TIDEMARK_<FLAG> (upper case, - as _).
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
	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
	"github.com/tidemarkmq/tidemark/pkg/startup"
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
	common := startup.CommonFlags(fs, ":8081")
	sd := sessiond.RegisterFlags(fs)
	adm := admin.RegisterFlags(fs)
	aclFile := fs.String("acl-file", "", "the frontends' Mosquitto-format ACL file, for the admin API's explain (empty: ACL unchecked)")
	reload := fs.Duration("auth-reload-interval", auth.DefaultInterval, "how often the token and ACL files are checked for changes")
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
	stopTracing, err := tracing.Start(ctx, tracing.Config{Service: "mqtt-sessiond", Node: common.Node, Endpoint: common.OTLPEndpoint}, log)
	if err != nil {
		return fmt.Errorf("--otlp-endpoint: %w", err)
	}
	defer stopTracing()

	reg := telemetry.NewRegistry()
	cfg := sessiond.Config{Node: common.Node, Kafka: kafka, RedisClient: rdb, KeyPrefix: common.KeyPrefix,
		Topics: common.Topics(), DefaultExpiry: common.DefaultExpiry, MaxExpiry: common.MaxExpiry,
		Logger: log, Registry: reg}
	sd.Apply(&cfg)
	svc, err := sessiond.New(cfg)
	if err != nil {
		return err
	}
	stopHTTP, err := common.ServeHTTP(reg, svc.Checks(), log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	// Readiness answers (and fails) while Kafka refuses the credentials.
	if err := kafkalog.AwaitAccess(ctx, kafka, log); err != nil {
		return nil // stopped before Kafka accepted us
	}
	if common.CreateTopics {
		tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := startup.EnsureTopics(tctx, kafka, cfg.Topics, common.Partitions, common.Retention())
		cancel()
		if err != nil {
			return err
		}
	}
	if adm.Addr != "" {
		api, err := admin.New(admin.Config{
			Addr: adm.Addr, Node: common.Node, Kafka: kafka, Redis: rdb, KeyPrefix: common.KeyPrefix, Topics: cfg.Topics,
			Nodes: admin.LivenessNodes(svc.Nodes), TokenFile: adm.TokenFile, ACLFile: *aclFile, ReloadInterval: *reload,
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
	log.Info("session service starting", "kafka", kafka.String(), "redis", redisOpts.String(), "node", common.Node)
	err = svc.Run(ctx)
	log.Info("session service stopped")
	return err
}
