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

	"github.com/tidemarkmq/tidemark/pkg/startup"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/pkg/telemetry/tracing"
	"github.com/tidemarkmq/tidemark/services/admin"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
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
	// The frontend's, the session service's and the admin API's own flags,
	// and the ones they share, as their binaries define them; then what
	// only the standalone broker has.
	common := startup.CommonFlags(fs, ":8080")
	fe := frontend.RegisterFlags(fs)
	sd := sessiond.RegisterFlags(fs)
	adm := admin.RegisterFlags(fs)
	var cfg standalone.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "directory for the embedded Kafka log and Redis snapshot")
	fs.StringVar(&cfg.KafkaAddr, "kafka-addr", "127.0.0.1:0", "embedded Kafka loopback address (port 0 = free port)")
	fs.StringVar(&cfg.RedisAddr, "redis-addr", "127.0.0.1:0", "embedded Redis loopback address (port 0 = free port)")
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
	log, err := common.Logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: --log-format/--log-level: %v\n", err)
		return 1
	}
	fe.Apply(&cfg.Frontend)
	sd.Apply(&cfg.Sessiond)
	cfg.Logger, cfg.Node, cfg.HTTPAddr, cfg.Partitions = log, common.Node, common.HTTPAddr, common.Partitions
	cfg.TopicPrefix, cfg.KeyPrefix = common.TopicPrefix, common.KeyPrefix
	cfg.Pprof, cfg.KeepTopics = common.Pprof, !common.CreateTopics
	cfg.DefaultExpiry, cfg.MaxExpiry = common.DefaultExpiry, common.MaxExpiry
	cfg.AdminAddr, cfg.AdminTokenFile = adm.Addr, adm.TokenFile
	cfg.ACLFile, cfg.ReloadInterval = fe.Auth.ACLFile, fe.Auth.ReloadInterval

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopTracing, err := tracing.Start(ctx, tracing.Config{Service: "mqtt-standalone", Node: cfg.Node, Endpoint: common.OTLPEndpoint}, log)
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
	if cfg.Frontend.Auth, err = frontend.NewAuthorizer(ctx, log, *fe.Auth); err != nil {
		fmt.Fprintf(stderr, "mqtt-standalone: %v\n", err)
		return 1
	}
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
