// Command mqtt-bench is a load generator for MQTT brokers on this host. It
// publishes numbered, timestamped messages and reports throughput, publish to
// deliver latency percentiles and lost, duplicated and reordered messages;
// other scenarios measure connect rate, memory per idle connection and
// offline replay, and --raw-kafka measures the plain Kafka producer that
// bounds a Kafka-backed broker's log path. Every run is capped in message
// count and in time, and only loopback addresses are accepted.
//
// Every flag can also be set in the environment as TIDEMARK_ followed by the
// flag name in upper case with - as _ (--pub-addr = TIDEMARK_PUB_ADDR);
// the command line wins.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/bench"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/rawkafka"
)

// options is everything the command line can say.
type options struct {
	bench    bench.Config
	version  string
	addr     string
	pubAddr  string
	subAddr  string
	expiry   time.Duration
	jsonOut  bool
	quiet    bool
	rawKafka bool
	kafka    *kafkalog.Options
	kTopic   string
	kParts   int
	kKeys    int
	heapURL  string
	heapOut  string
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
		fmt.Fprintf(stderr, "mqtt-bench: %v\n", err)
		return 2
	}
	if !opt.quiet {
		opt.bench.Progress = stderr
	}
	var res *bench.Result
	if opt.rawKafka {
		var cluster kafkalog.Cluster
		if cluster, err = opt.kafka.Cluster(nil); err != nil {
			fmt.Fprintf(stderr, "mqtt-bench: %v\n", err)
			return 2
		}
		res, err = rawkafka.Run(ctx, rawkafka.Config{
			Kafka: cluster, Topic: opt.kTopic, Partitions: opt.kParts, Keys: opt.kKeys,
			Size: opt.bench.Size, Count: opt.bench.Count, Duration: opt.bench.Duration,
			Producers: opt.bench.Publishers, Inflight: opt.bench.Inflight, Progress: opt.bench.Progress,
		})
	} else {
		res, err = bench.Run(ctx, opt.bench)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-bench: %v\n", err)
		if res == nil {
			return 1
		}
	}
	if opt.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "mqtt-bench: write result: %v\n", err)
			return 1
		}
	} else {
		report(stdout, res)
	}
	if err != nil {
		return 1
	}
	return 0
}

func parse(args []string, stderr io.Writer) (*options, error) {
	var o options
	c := &o.bench
	fs := flag.NewFlagSet("mqtt-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Scenario, "scenario", bench.PubSub, "pubsub, connect-storm, idle or replay")
	fs.StringVar(&c.Pattern, "pattern", bench.FanIn, "pubsub topics: fan-in (subscriber j gets publishers i with i%subscribers==j), fan-out, p2p or shared")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:1883", "broker address(es), comma separated, for publishers and subscribers")
	fs.StringVar(&o.pubAddr, "pub-addr", "", "publisher broker address(es), comma separated; connection k uses entry k mod n (default --addr)")
	fs.StringVar(&o.subAddr, "sub-addr", "", "subscriber (and connect-storm/idle) broker address(es) (default --addr)")
	fs.IntVar(&c.Publishers, "publishers", 1, "publishing connections")
	fs.IntVar(&c.Subscribers, "subscribers", 1, "subscribing connections")
	fs.IntVar(&c.Connections, "connections", 1000, "connections for connect-storm and idle")
	qos := fs.Uint("qos", 0, "publish QoS")
	subQoS := fs.Uint("sub-qos", 0, "subscription QoS (0: same as --qos)")
	fs.IntVar(&c.Size, "size", 64, fmt.Sprintf("payload bytes (at least %d)", bench.HeaderSize))
	fs.Float64Var(&c.Rate, "rate", 0, "target publish rate in messages/s over all publishers (0: as fast as possible)")
	fs.IntVar(&c.Count, "count", 10_000, fmt.Sprintf("message cap over all publishers (max %d)", bench.MaxCount))
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, fmt.Sprintf("time cap of each phase: publishing, draining, replaying, connecting (max %v)", bench.MaxDuration))
	fs.DurationVar(&c.Drain, "drain", 3*time.Second, "stop waiting for the last deliveries after this long without any")
	fs.DurationVar(&c.Hold, "hold", 10*time.Second, "idle: how long connections are held once open")
	fs.StringVar(&o.version, "mqtt-version", "3.1.1", "MQTT protocol: 3.1, 3.1.1 or 5")
	fs.BoolVar(&c.Clean, "clean", true, "clean sessions (connect-storm and replay always use persistent ones)")
	fs.DurationVar(&o.expiry, "session-expiry", 5*time.Minute, "MQTT 5 session expiry of persistent sessions")
	fs.IntVar(&c.Inflight, "inflight", 64, "unacknowledged QoS 1/2 publishes per publisher (MQTT 5: at most the broker's Receive Maximum; Mosquitto closes 3.1.1 clients with more than 20 QoS 2 in flight)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "CONNECTs in parallel")
	fs.DurationVar(&c.KeepAlive, "keepalive", 60*time.Second, "MQTT keep-alive")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", "bench", "topics are <prefix>/<run id>/<n>")
	fs.StringVar(&c.ShareGroup, "share-group", "g", "group name of the shared pattern ($share/<group>/...)")
	fs.StringVar(&c.RunID, "run-id", "", "unique part of topics and client ids (default: random)")
	fs.IntVar(&c.PID, "pid", 0, "idle: broker process id whose VmRSS is read before and after")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.rawKafka, "raw-kafka", false, "produce to Kafka with kafka-go (acks=all) instead of MQTT: the log path ceiling")
	o.kafka = kafkalog.Flags(fs) // raw-kafka: the cluster and its security
	fs.StringVar(&o.kTopic, "kafka-topic", "", "raw-kafka: topic, created when missing (default bench.raw-<run id>)")
	fs.IntVar(&o.kParts, "kafka-partitions", 8, "raw-kafka: partitions of a created topic")
	fs.IntVar(&o.kKeys, "kafka-keys", 0, "raw-kafka: distinct record keys (default: --subscribers, like fan-in topics)")
	fs.StringVar(&o.heapURL, "heap-profile-url", "", "idle: URL of the broker's heap profile (e.g. http://127.0.0.1:8080/debug/pprof/heap), fetched while the connections are held")
	fs.StringVar(&o.heapOut, "heap-profile-out", "idle.heap.pprof", "idle: file the --heap-profile-url profile is written to")

	if err := setFromEnv(fs, os.LookupEnv); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *qos > 2 || *subQoS > 2 {
		return nil, fmt.Errorf("%w: qos must be 0, 1 or 2", bench.ErrConfig)
	}
	c.QoS, c.SubQoS = byte(*qos), byte(*subQoS)
	v, err := parseVersion(o.version)
	if err != nil {
		return nil, err
	}
	c.Version = v
	if o.expiry < time.Second || o.expiry > time.Duration(1<<32-1)*time.Second {
		return nil, fmt.Errorf("%w: session expiry must be 1s..136y", bench.ErrConfig)
	}
	c.SessionExpiry = uint32(o.expiry / time.Second)
	if o.pubAddr == "" {
		o.pubAddr = o.addr
	}
	if o.subAddr == "" {
		o.subAddr = o.addr
	}
	c.PubAddrs, c.SubAddrs = splitList(o.pubAddr), splitList(o.subAddr)
	if o.heapURL != "" {
		c.Held = func() {
			if err := fetchTo(o.heapURL, o.heapOut); err != nil {
				fmt.Fprintf(stderr, "mqtt-bench: heap profile: %v\n", err)
			}
		}
	}
	if c.Count <= 0 || c.Duration <= 0 {
		return nil, fmt.Errorf("%w: --count and --duration must be positive (every run is bounded)", bench.ErrConfig)
	}
	if c.Scenario == "raw-kafka" {
		o.rawKafka = true
	}
	if o.rawKafka {
		if c.RunID == "" {
			c.RunID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
		}
		if o.kTopic == "" {
			o.kTopic = "bench.raw-" + c.RunID
		}
		if o.kKeys == 0 {
			o.kKeys = c.Subscribers
		}
	}
	return &o, nil
}

// fetchTo writes the body of a GET of url to the file out.
func fetchTo(url, out string) error {
	client := http.Client{Timeout: 30 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// setFromEnv gives every flag the value of its TIDEMARK_ variable, before the
// command line is parsed so that flags override the environment.
func setFromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "TIDEMARK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookup(name); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s: %w", name, e)
			}
		}
	})
	return err
}

func parseVersion(s string) (mqtt.Version, error) {
	switch s {
	case "3.1", "3":
		return mqtt.V31, nil
	case "3.1.1", "4":
		return mqtt.V311, nil
	case "5", "5.0":
		return mqtt.V5, nil
	}
	return 0, fmt.Errorf("%w: unknown MQTT version %q (3.1, 3.1.1 or 5)", bench.ErrConfig, s)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
