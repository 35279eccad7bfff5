// Command mqtt-events prints the broker's lifecycle events from Kafka, one
// CloudEvents JSON envelope per line, or a live summary of them.
//
//	mqtt-events --kafka 127.0.0.1:9092 [--topic mqtt.lifecycle]
//	    [--from-beginning] [--client ID,...] [--type connected,...]
//	    [--summary] [--interval 1s] [--validate] [--until-end]
//
// Every flag can also come from the environment as TIDEMARK_ plus the flag
// name in upper case with '-' as '_' (e.g. TIDEMARK_KAFKA); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mqtt-events:", err)
		os.Exit(2)
	}
	cfg.Out = os.Stdout
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := NewTail(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mqtt-events:", err)
		os.Exit(2)
	}
	// A tool says at once that Kafka refuses it, where a service would
	// wait unready; outages are waited out as before.
	if err := kafkalog.Ping(ctx, cfg.Kafka, cfg.Topic); errors.Is(err, kafkalog.ErrAuth) {
		fmt.Fprintln(os.Stderr, "mqtt-events:", err)
		os.Exit(1)
	}
	if err := t.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mqtt-events:", err)
		os.Exit(1)
	}
}

// parseConfig reads flags, falling back to TIDEMARK_* variables from getenv
// for flags not given.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("mqtt-events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kafka := kafkalog.Flags(fs)
	topic := fs.String("topic", "mqtt.lifecycle", "lifecycle topic")
	from := fs.Bool("from-beginning", false, "read every retained event, not only new ones")
	clients := fs.String("client", "", "only events of these ClientIDs (comma separated)")
	types := fs.String("type", "", "only these event types (comma separated: connected, client.disconnected, mqtt.session.created, ...)")
	summary := fs.Bool("summary", false, "print a summary every interval instead of the events")
	interval := fs.Duration("interval", time.Second, "summary period")
	validate := fs.Bool("validate", false, "warn on stderr about events that do not match the published schemas")
	untilEnd := fs.Bool("until-end", false, "exit once caught up with the end of the topic as it was at start (with --from-beginning: read the history and exit)")

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "TIDEMARK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return Config{}, envErr
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ts, err := ParseTypes(*types)
	if err != nil {
		return Config{}, err
	}
	cluster, err := kafka.Cluster(nil)
	if err != nil {
		return Config{}, err
	}
	return Config{
		Kafka:         cluster,
		Topic:         *topic,
		FromBeginning: *from,
		Clients:       splitList(*clients),
		Types:         ts,
		Summary:       *summary,
		Interval:      *interval,
		Validate:      *validate,
		UntilEnd:      *untilEnd,
	}, nil
}

// splitList splits a comma list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
