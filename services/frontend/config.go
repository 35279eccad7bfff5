package frontend

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/tlsfiles"
)

// Topics names the Kafka topics, shared with the session service.
type Topics = session.Topics

// DefaultTopics returns the topic names of docs/design.md.
func DefaultTopics() Topics { return session.DefaultTopics() }

// Config configures a Server. Zero values take the defaults named on each
// field; an empty listener address leaves that listener off.
type Config struct {
	// Node names this frontend in ops and events; default the hostname.
	Node string
	// MQTTAddr, WSAddr, TLSAddr, WSSAddr are listen addresses ("" = off).
	MQTTAddr, WSAddr, TLSAddr, WSSAddr string
	// TLSCert and TLSKey are PEM files for the TLS and WSS listeners;
	// TLSClientCA, when set, makes client certificates mandatory. All
	// three are reloaded when they change on disk: new connections get
	// the new certificate, open ones keep theirs.
	TLSCert, TLSKey, TLSClientCA string
	// Kafka is the cluster: bootstrap brokers and connection security.
	Kafka kafkalog.Cluster
	// Redis is the host:port of the session view; ignored when
	// RedisClient is set.
	Redis string
	// RedisClient, when set, is used instead of dialling Redis (and not
	// closed by the server): a cluster, Sentinel or TLS client.
	RedisClient redis.UniversalClient
	// KeyPrefix is prepended to every Redis key, as the session service's
	// own KeyPrefix (tests sharing one Redis).
	KeyPrefix string
	// Topics default to DefaultTopics for empty names.
	Topics Topics
	// MaxPacketSize bounds inbound packets (and is announced in CONNACK);
	// default 1 MiB.
	MaxPacketSize int
	// ConnectTimeout bounds the wait for CONNECT after accept; default 5s.
	ConnectTimeout time.Duration
	// WriteTimeout is the write deadline of one flush; a client that cannot
	// take its data within it is a slow consumer. Default 10s.
	WriteTimeout time.Duration
	// MaxPending bounds the messages waiting for one connection (replay and
	// live); beyond it the connection is closed as a slow consumer. Default 100000.
	MaxPending int
	// ReceiveMaximum is announced to MQTT 5 clients: the QoS 1/2 PUBLISHes a
	// client may have unacknowledged towards this server. Default 1000.
	ReceiveMaximum int
	// TopicAliasMaximum is announced to MQTT 5 clients; default 64.
	TopicAliasMaximum int
	// MaxKeepAlive caps the Keep Alive of MQTT 5 clients (seconds, sent as
	// Server Keep Alive; 3.1.x clients cannot be told); 0 = no cap.
	MaxKeepAlive int
	// LeanGCPercent is the garbage collector's GOGC while the frontend
	// allocates little against its live heap, as when it holds many idle
	// connections (pkg/startup/leanmem); 0 takes the default 25, a
	// negative value keeps the usual GOGC all the time.
	LeanGCPercent int
	// DefaultExpiry is the session expiry of a 3.1.x CleanSession=0 client;
	// default 2h. MaxExpiry caps any client's expiry; 0 = no cap.
	DefaultExpiry, MaxExpiry time.Duration
	// PublishRetry bounds how long one connection's publish waits for Kafka
	// before the connection is closed (the client resends); default 30s.
	PublishRetry time.Duration
	// ProgressInterval is how often changed cursors are logged; default 200ms.
	ProgressInterval time.Duration
	// HeartbeatInterval is how often the frontend beats on the nodes topic;
	// default 1s. Keep it well below the session service's node timeout.
	HeartbeatInterval time.Duration
	// Auth decides CONNECT, SUBSCRIBE and PUBLISH; default AllowAll.
	Auth Authorizer
	// Limits bound connections, rates, subscriptions and topics; zero
	// fields take the defaults of Limits.
	Limits Limits
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry, when set, receives the frontend's metrics.
	Registry prometheus.Registerer
}

// ErrConfig is wrapped by errors about an invalid Config.
var ErrConfig = errors.New("invalid frontend config")

func (c *Config) applyDefaults() error {
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "frontend"
		}
		c.Node = h
	}
	c.Topics = c.Topics.WithDefaults()
	if c.MaxPacketSize <= 0 {
		c.MaxPacketSize = 1 << 20
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 100000
	}
	if c.ReceiveMaximum <= 0 || c.ReceiveMaximum > 65535 {
		c.ReceiveMaximum = 1000
	}
	if c.TopicAliasMaximum <= 0 || c.TopicAliasMaximum > 65535 {
		c.TopicAliasMaximum = 64
	}
	if c.DefaultExpiry <= 0 {
		c.DefaultExpiry = 2 * time.Hour
	}
	if c.PublishRetry <= 0 {
		c.PublishRetry = 30 * time.Second
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 200 * time.Millisecond
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.Auth == nil {
		c.Auth = AllowAll{}
	}
	c.Limits.applyDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.Kafka.Brokers) == 0 {
		return fmt.Errorf("%w: no kafka brokers", ErrConfig)
	}
	if c.Redis == "" && c.RedisClient == nil {
		return fmt.Errorf("%w: no redis address", ErrConfig)
	}
	if (c.TLSAddr != "" || c.WSSAddr != "") && (c.TLSCert == "" || c.TLSKey == "") {
		return fmt.Errorf("%w: tls listener without certificate and key", ErrConfig)
	}
	return nil
}

// tlsConfig is the listeners' TLS configuration: the certificate and,
// when set, the client CA, read again when the files change.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cfg, err := tlsfiles.Server(tlsfiles.Files{Cert: c.TLSCert, Key: c.TLSKey, CA: c.TLSClientCA}, c.Logger)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return cfg, nil
}
