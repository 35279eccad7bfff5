// Package sessiond is the session service: a consumer group over the
// sessions topic that applies every op, in partition order, to the Redis
// view (it is the view's only writer) and announces the lifecycle events
// the ops cause. It also expires offline sessions and fills their offline
// queues from the messages topic.
//
// Per op the order is: decide from the view as it stands, append the op's
// events (acks=all, ids derived from the op's log position), apply the op
// to Redis in one transaction that records the op's offset, then (later,
// in batches) commit the group offset. A crash at any point re-processes
// the op: if Redis already has it, it is skipped (its events were appended
// before); if not, the same events are appended again with the same ids.
package sessiond

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// Topics names the Kafka topics, shared with the frontend.
type Topics = session.Topics

// DefaultTopics returns the default topic names.
func DefaultTopics() Topics { return session.DefaultTopics() }

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	// Node names this instance in events it causes itself (expiry, queue
	// drops); default the host name.
	Node string
	// Kafka is the cluster: bootstrap brokers and connection security.
	Kafka kafkalog.Cluster
	// Redis is the Redis address (host:port); ignored when RedisClient is
	// set.
	Redis string
	// RedisClient, when set, is used instead of dialling Redis (and not
	// closed by the service): a cluster, Sentinel or TLS client.
	RedisClient redis.UniversalClient
	// KeyPrefix is prepended to every Redis key (tests, shared Redis).
	KeyPrefix string
	// Topics default to DefaultTopics; empty names take their default.
	Topics Topics
	// GroupID of the consumer group; default "mqtt-sessiond".
	GroupID string
	// MaxQueued bounds each offline queue (drop oldest beyond it); default
	// 1000.
	MaxQueued int
	// QueueQoS0 queues QoS 0 messages for offline sessions too. The binary's
	// flag defaults to true; a zero Config does not queue QoS 0.
	QueueQoS0 bool
	// DefaultExpiry is the expiry of MQTT 3.1.1 CleanSession=0 sessions;
	// default 2h.
	DefaultExpiry time.Duration
	// MaxExpiry caps every session expiry; 0 means no cap.
	MaxExpiry time.Duration
	// ExpiryCheck is how often offline sessions are checked for expiry;
	// default 1s.
	ExpiryCheck time.Duration
	// CommitInterval is how often applied offsets are committed; default
	// 100ms. Committing late is safe: re-delivered ops that Redis already
	// has are skipped.
	CommitInterval time.Duration
	// NodeTimeout is how long a frontend incarnation may stay silent on the
	// nodes topic before it is declared dead and its connections are
	// announced disconnected (node_down); default 10s.
	NodeTimeout time.Duration
	// SessionTimeout of the consumer group membership: how long a silent
	// instance keeps its partitions. Default two thirds of NodeTimeout, at
	// least 6s (Kafka's default group.min.session.timeout.ms), so that a
	// surviving instance has taken over a dead one's partitions, rebalance
	// included, within about the node timeout.
	SessionTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the service's metrics when set.
	Registry prometheus.Registerer
}

// minSessionTimeout is Kafka's default group.min.session.timeout.ms: a
// broker refuses members that ask for less.
const minSessionTimeout = 6 * time.Second

// ErrConfig is wrapped by New's errors for unusable configurations.
var ErrConfig = errors.New("invalid sessiond config")

func (c *Config) defaults() error {
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "sessiond"
		}
		c.Node = h
	}
	if len(c.Kafka.Brokers) == 0 {
		return fmt.Errorf("%w: no kafka brokers", ErrConfig)
	}
	if c.Redis == "" && c.RedisClient == nil {
		return fmt.Errorf("%w: no redis", ErrConfig)
	}
	c.Topics = c.Topics.WithDefaults()
	if c.GroupID == "" {
		c.GroupID = "mqtt-sessiond"
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = 1000
	}
	if c.DefaultExpiry == 0 {
		c.DefaultExpiry = 2 * time.Hour
	}
	if c.ExpiryCheck == 0 {
		c.ExpiryCheck = time.Second
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 100 * time.Millisecond
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = 10 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = max(c.NodeTimeout*2/3, minSessionTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxQueued < 0 || c.DefaultExpiry < 0 || c.MaxExpiry < 0 || c.NodeTimeout < 0 {
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	return nil
}

// expiry returns the effective session expiry in seconds for a connect:
// 3.1.1 CleanSession=1 ends with the connection, CleanSession=0 gets
// DefaultExpiry; MQTT 5 keeps the requested value; MaxExpiry caps both.
// The frontend applies the same rules; applying them again here keeps the
// cap authoritative.
func (c *Config) expiry(proto byte, clean bool, requested uint32) uint32 {
	e := requested
	if proto < 5 {
		switch {
		case clean:
			e = 0
		case e == 0:
			e = secs(c.DefaultExpiry)
		}
	}
	if c.MaxExpiry > 0 && e > secs(c.MaxExpiry) {
		e = secs(c.MaxExpiry)
	}
	return e
}

func secs(d time.Duration) uint32 {
	s := d / time.Second
	if s > 0xFFFFFFFF {
		return 0xFFFFFFFF
	}
	return uint32(s)
}
