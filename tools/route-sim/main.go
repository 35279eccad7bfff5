// Command route-sim compares, against a real Kafka, the two ways a message
// can reach the frontends that want it (docs/scaling.md): broadcast, where
// every frontend follows the whole messages topic and matches each record
// against its own subscriptions, and routed, where the publisher looks the
// topic up in an index of the frontends' subscriptions and appends a copy
// to each interested frontend's own delivery topic, the only one that
// frontend follows.
//
// One process holds the whole simulated cluster: N nodes (frontends without
// MQTT: a kafkalog.Follower and a topic.Index each), T topics each wanted
// by k nodes, and a publisher appending R records/s for D seconds, keyed by
// topic like mqtt.messages. Each mode runs on fresh topics. It reports, per
// mode, the rate achieved, what the nodes fetched, the process's CPU (and
// the broker's, when its process is found) and whether every node got
// exactly its records, once each and in per-topic order; any loss,
// duplicate or reordering makes the exit status 1.
//
// Every run is bounded in records and in time, and only loopback Kafka
// addresses are accepted: it is a measurement for one machine.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Caps keep a mistyped flag from loading a shared machine for long.
const (
	maxNodes    = 200
	maxTopics   = 100_000
	maxRate     = 200_000
	maxDuration = time.Minute
)

// options is everything the command line can say.
type options struct {
	kafka      *kafkalog.Options
	nodes      []int
	modes      []string
	base       config
	kafkaPID   int
	kafkaMark  string
	pause      time.Duration
	keepTopics bool
	jsonOut    bool
	quiet      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "route-sim: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cluster, err := opt.kafka.Cluster(log)
	if err != nil {
		fmt.Fprintf(stderr, "route-sim: %v\n", err)
		return 2
	}
	progress := stderr
	if opt.quiet {
		progress = io.Discard
	}
	pid := opt.kafkaPID
	if pid == 0 {
		pid = findKafka(opt.kafkaMark)
	}
	if pid <= 0 {
		fmt.Fprintf(progress, "route-sim: no single Kafka process found; its CPU is not reported\n")
	}

	rep := report{Date: time.Now().UTC().Format(time.RFC3339), Kafka: cluster.String(), RunID: opt.base.runID}
	var created []string
	status := 0
	for ni, n := range opt.nodes {
		for mi, mode := range opt.modes {
			if ni+mi > 0 && !sleepCtx(ctx, opt.pause) {
				break
			}
			cfg := opt.base
			cfg.cluster, cfg.mode, cfg.nodes, cfg.kafkaPID, cfg.log = cluster, mode, n, pid, log
			fmt.Fprintf(progress, "route-sim: %s, %d nodes, %d topics, %.0f msg/s for %s\n", mode, n, cfg.topics, cfg.rate, cfg.duration)
			tn := names(cfg)
			for _, s := range tn.specs(cfg.partitions) {
				created = append(created, s.Name)
			}
			res, err := runMode(ctx, cfg)
			if err != nil {
				fmt.Fprintf(stderr, "route-sim: %v\n", err)
				status = 1
				continue
			}
			if res.Deliveries != nil && !res.Deliveries.ok() {
				fmt.Fprintf(stderr, "route-sim: %s, %d nodes: deliveries wrong: %+v\n", mode, n, *res.Deliveries)
				status = 1
			}
			rep.Results = append(rep.Results, *res)
		}
	}
	if !opt.keepTopics && len(created) > 0 {
		if err := deleteTopics(cluster, created); err != nil {
			fmt.Fprintf(stderr, "route-sim: delete topics: %v\n", err)
		}
	}
	if opt.jsonOut {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "route-sim: %v\n", err)
		return 1
	}
	if ctx.Err() != nil {
		return 1
	}
	return status
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	c := &o.base
	fs := flag.NewFlagSet("route-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.kafka = kafkalog.Flags(fs)
	nodes := fs.String("nodes", "10", "simulated frontends; a comma-separated list runs each size in turn")
	modes := fs.String("modes", modeBroadcast+","+modeRouted, "modes in order: broadcast, routed, and the node-less publish and publish-routed (the publisher's share of each)")
	fs.IntVar(&c.topics, "topics", 100, "MQTT topics; each is subscribed on --interest nodes")
	fs.IntVar(&c.interest, "interest", 1, "nodes subscribed to each topic")
	fs.Float64Var(&c.rate, "rate", 20_000, "messages/s the publisher appends")
	fs.DurationVar(&c.duration, "duration", 8*time.Second, fmt.Sprintf("publishing time of each mode (max %v)", maxDuration))
	fs.DurationVar(&c.warmup, "warmup", time.Second, "publishing time before the measured window opens")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "how long to wait after publishing for the nodes' last records")
	fs.IntVar(&c.size, "size", 64, "payload bytes (at least 8: the sequence number)")
	fs.IntVar(&c.partitions, "partitions", 8, "partitions of the messages topic")
	fs.IntVar(&c.publishers, "publishers", 4, "concurrent publisher goroutines, each owning a share of the topics")
	fs.IntVar(&c.maxBatch, "max-batch", 2000, "most records in one append of one publisher")
	fs.StringVar(&c.runID, "run-id", "", "unique part of the Kafka topic names (default: random)")
	fs.IntVar(&o.kafkaPID, "kafka-pid", 0, "Kafka broker pid whose CPU is read (default: found by --kafka-process; -1: none)")
	fs.StringVar(&o.kafkaMark, "kafka-process", ".stack/kafka/", "text in the broker's command line that finds its pid when it is the only java process with it")
	fs.DurationVar(&o.pause, "pause", 2*time.Second, "pause between runs, so one run's tail is not in the next one's window")
	fs.BoolVar(&o.keepTopics, "keep-topics", false, "keep the run's Kafka topics (default: deleted at the end)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the results as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	if v, ok := os.LookupEnv("TIDEMARK_KAFKA"); ok {
		if err := fs.Set("kafka", v); err != nil {
			return nil, err
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if o.nodes, err = parseInts(*nodes); err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	for _, n := range o.nodes {
		if n < 1 || n > maxNodes {
			return nil, fmt.Errorf("--nodes: %d not in 1..%d", n, maxNodes)
		}
	}
	for m := range strings.SplitSeq(*modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case modeBroadcast, modeRouted, modePublish, modePublishRouted:
			o.modes = append(o.modes, m)
		case "":
		default:
			return nil, fmt.Errorf("--modes: unknown mode %q", m)
		}
	}
	switch {
	case len(o.modes) == 0:
		return nil, errors.New("--modes: none")
	case c.topics < 1 || c.topics > maxTopics:
		return nil, fmt.Errorf("--topics: not in 1..%d", maxTopics)
	case c.interest < 1:
		return nil, errors.New("--interest: at least 1")
	case c.rate <= 0 || c.rate > maxRate:
		return nil, fmt.Errorf("--rate: not in (0, %d]", maxRate)
	case c.duration <= 0 || c.duration > maxDuration:
		return nil, fmt.Errorf("--duration: not in (0, %v]", maxDuration)
	case c.warmup < 0 || c.warmup >= c.duration:
		return nil, errors.New("--warmup: must be shorter than --duration")
	case c.drain <= 0 || c.drain > maxDuration:
		return nil, fmt.Errorf("--drain: not in (0, %v]", maxDuration)
	case c.size < 8 || c.size > 1<<20:
		return nil, errors.New("--size: not in 8..1048576")
	case c.partitions < 1 || c.publishers < 1 || c.maxBatch < 1:
		return nil, errors.New("--partitions, --publishers and --max-batch: at least 1")
	}
	for b := range strings.SplitSeq(o.kafka.Brokers, ",") {
		if err := checkLoopback(strings.TrimSpace(b)); err != nil {
			return nil, err
		}
	}
	if c.runID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.runID = hex.EncodeToString(b[:])
	}
	return o, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// checkLoopback refuses a broker address off this host.
func checkLoopback(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--kafka %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--kafka %q: only loopback addresses are accepted", addr)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deleteTopics removes the run's topics, so repeated runs do not pile up
// partitions on a shared broker. kafkalog creates topics but never deletes
// them, so this goes to kafka-go on the cluster's own transport.
func deleteTopics(c kafkalog.Cluster, topics []string) error {
	t := c.Transport()
	defer t.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: t}
	res, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return err
	}
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
