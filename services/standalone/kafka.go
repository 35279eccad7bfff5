// Package standalone runs the whole broker in one process for development
// and small installations: the frontend and the session service as in a
// cluster, with an embedded Kafka-compatible broker (kfake) and an embedded
// Redis (miniredis) in place of the real ones, both on loopback.
//
// The embedded servers keep their state in one data directory, so a
// restart keeps the message log, the session ops and the consumer group's
// committed offsets (Kafka), and the session view (Redis snapshot; the
// session service rebuilds whatever the snapshot lacks from the log).
package standalone

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// ErrNotLoopback is returned when an embedded server is asked to listen on
// a non-loopback address: the embedded servers have no authentication.
var ErrNotLoopback = errors.New("embedded servers listen on loopback addresses only")

// KafkaConfig configures the embedded Kafka broker.
type KafkaConfig struct {
	// Addr is a loopback host:port; port 0 (the default "127.0.0.1:0")
	// picks a free port, see EmbeddedKafka.Addr.
	Addr string
	// DataDir keeps topics, records and group offsets across restarts
	// (in DataDir/kafka); empty keeps everything in memory.
	DataDir string
	// SyncWrites fsyncs every produced batch. Off, writes reach the disk on
	// segment roll and shutdown, as with Kafka's defaults: a process crash
	// loses nothing, a machine crash may lose the last writes.
	SyncWrites bool
	// CleanerInterval is how often the broker compacts compacted topics
	// and deletes records past retention; default 1m (kfake's own default
	// is an hour, Kafka's log cleaner runs far more often).
	CleanerInterval time.Duration
	// Logger receives the broker's warnings and errors; default
	// slog.Default().
	Logger *slog.Logger
}

// EmbeddedKafka is a single-broker Kafka (kfake) inside this process.
type EmbeddedKafka struct {
	c    *kfake.Cluster
	addr string
}

// StartKafka starts the embedded broker and returns once it accepts
// connections.
func StartKafka(cfg KafkaConfig) (*EmbeddedKafka, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	host, port, err := loopback(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.CleanerInterval <= 0 {
		cfg.CleanerInterval = time.Minute
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("tidemark-standalone"),
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": strconv.FormatInt(cfg.CleanerInterval.Milliseconds(), 10)}),
		kfake.WithLogger(kfakeLogger{log.With("component", "embedded-kafka")}),
		// kfake binds 127.0.0.1; honour another loopback host if asked.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(filepath.Join(cfg.DataDir, "kafka")))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka on %s: %w", cfg.Addr, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, fmt.Errorf("embedded kafka: %d listeners, want 1", len(addrs))
	}
	return &EmbeddedKafka{c: c, addr: addrs[0]}, nil
}

// loopback splits addr and checks that its host is a loopback IP or
// "localhost".
func loopback(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	if host == "localhost" {
		return "127.0.0.1", port, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", 0, fmt.Errorf("address %q: %w", addr, ErrNotLoopback)
	}
	return host, port, nil
}

// Addr is the host:port the broker listens on (the port it got when
// configured with port 0).
func (k *EmbeddedKafka) Addr() string { return k.addr }

// Cluster is Addr as a plaintext cluster on loopback.
func (k *EmbeddedKafka) Cluster() kafkalog.Cluster { return kafkalog.Plain(k.addr) }

// Compact compacts topics with cleanup.policy=compact now, without
// waiting for the next cleaner run.
func (k *EmbeddedKafka) Compact() { k.c.Compact() }

// ApplyRetention deletes records older than their topic's retention.ms
// now, without waiting for the next cleaner run.
func (k *EmbeddedKafka) ApplyRetention() { k.c.ApplyRetention() }

// Close stops the broker and, with a DataDir, flushes its state to disk.
func (k *EmbeddedKafka) Close() error {
	k.c.Close()
	return nil
}

// kfakeLogger forwards kfake's warnings and errors to slog; its info and
// debug levels log every request.
type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error(fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		l.log.Warn(fmt.Sprintf(msg, args...))
	}
}
