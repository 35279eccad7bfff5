package standalone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/startup"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/services/admin"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

// Config configures the standalone broker. Zero values take the defaults
// named on each field.
type Config struct {
	// Frontend and Sessiond are the frontend's and the session service's
	// settings (their zero values take those services' defaults): the
	// listeners, TLS, limits and authorization of the one, the offline
	// queue, expiry check and node timeout of the other. Start sets their
	// wiring (node, Kafka, Redis, topics, expiry, logger, metrics).
	Frontend frontend.Config
	Sessiond sessiond.Config
	// HTTPAddr serves /healthz, /readyz and /metrics (and /debug/pprof with
	// Pprof); empty turns it off.
	HTTPAddr string
	Pprof    bool
	// KeepTopics skips creating the topics at start (they must exist).
	KeepTopics bool
	// DataDir holds the embedded Kafka's log and the Redis snapshot;
	// default "./data".
	DataDir string
	// KafkaAddr and RedisAddr are the embedded servers' loopback
	// addresses; default "127.0.0.1:0" (a free port each).
	KafkaAddr, RedisAddr string
	// Node names this broker in ops and events; default the host name.
	Node string
	// Partitions of the messages, sessions and lifecycle topics when they
	// are created; default 4.
	Partitions int
	// TopicPrefix and KeyPrefix prefix every topic name and Redis key.
	TopicPrefix, KeyPrefix string
	// DefaultExpiry and MaxExpiry apply to the frontend and the session
	// service alike (see sessiond.Config).
	DefaultExpiry, MaxExpiry time.Duration
	// ShutdownTimeout bounds each shutdown step; default 15s.
	ShutdownTimeout time.Duration
	// CleanerInterval is how often the embedded Kafka compacts and applies
	// retention; default 1m.
	CleanerInterval time.Duration
	// AdminAddr serves the admin API (empty: off); AdminTokenFile is its
	// token file (required with it), ACLFile the ACL its explain applies
	// (the frontend's), both reloaded every ReloadInterval.
	AdminAddr, AdminTokenFile, ACLFile string
	ReloadInterval                     time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("invalid configuration")

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.KafkaAddr == "" {
		c.KafkaAddr = "127.0.0.1:0"
	}
	if c.RedisAddr == "" {
		c.RedisAddr = "127.0.0.1:0"
	}
	if c.Node == "" {
		if h, err := os.Hostname(); err == nil {
			c.Node = h
		} else {
			c.Node = "standalone"
		}
	}
	if c.Partitions <= 0 {
		c.Partitions = 4
	}
	if c.DefaultExpiry <= 0 {
		c.DefaultExpiry = 2 * time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks what can be checked before anything starts, so bad
// input is one clear error: every listener's port is free, the data
// directory is writable, the embedded servers' addresses are loopback.
func (c *Config) Validate() error {
	c.defaults()
	f := &c.Frontend
	for _, l := range []struct{ name, addr string }{{"mqtt-addr", f.MQTTAddr}, {"ws-addr", f.WSAddr}, {"tls-addr", f.TLSAddr},
		{"wss-addr", f.WSSAddr}, {"http-addr", c.HTTPAddr}, {"admin-addr", c.AdminAddr}, {"kafka-addr", c.KafkaAddr}, {"redis-addr", c.RedisAddr}} {
		if err := telemetry.CheckListen(l.addr); err != nil {
			return fmt.Errorf("%w: --%s: %w", ErrConfig, l.name, err)
		}
	}
	for _, l := range []struct{ name, addr string }{{"kafka-addr", c.KafkaAddr}, {"redis-addr", c.RedisAddr}} {
		if _, _, err := loopback(l.addr); err != nil {
			return fmt.Errorf("%w: --%s: %w", ErrConfig, l.name, err)
		}
	}
	if err := telemetry.CheckWritableDir(c.DataDir); err != nil {
		return fmt.Errorf("%w: --data-dir: %w", ErrConfig, err)
	}
	if c.Sessiond.MaxQueued < 0 || c.DefaultExpiry < 0 || c.MaxExpiry < 0 || c.Sessiond.NodeTimeout < 0 {
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	if c.AdminAddr != "" && c.AdminTokenFile == "" {
		return fmt.Errorf("%w: --admin-addr needs --admin-tokens", ErrConfig)
	}
	return nil
}

// retention is how long the messages and sessions topics keep records: at
// least as long as a session may stay offline, so replay and rebuilds find
// what they need, and never less than Kafka's usual week.
func (c *Config) retention() time.Duration {
	r := max(c.DefaultExpiry, c.MaxExpiry) + 24*time.Hour
	return max(r, 7*24*time.Hour)
}

// Addrs are the bound addresses of a running Server.
type Addrs struct {
	MQTT, WS, HTTP net.Addr
	Kafka, Redis   string
	Admin          net.Addr
}

// Server is a running standalone broker.
type Server struct {
	cfg   Config
	log   *slog.Logger
	kafka *EmbeddedKafka
	redis *EmbeddedRedis
	http  *telemetry.HTTPServer
	fe    *frontend.Server
	sd    *sessiond.Service
	admin *admin.Server
	// adminRdb is the admin API's client of the embedded Redis.
	adminRdb *redis.Client

	feCancel, sdCancel context.CancelFunc
	feDone, sdDone     chan error
	stopOnce           sync.Once
	unlock             func() // releases the data dir lock
}

// Start validates cfg, starts the embedded Kafka and Redis, creates the
// topics, and starts the session service, the frontend and the HTTP
// server. It returns once the frontend's listeners are bound; Ready tells
// when it serves. On error everything started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.unlock, err = lockDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("%w: --data-dir: %w", ErrConfig, err)
	}
	if s.kafka, err = StartKafka(KafkaConfig{Addr: cfg.KafkaAddr, DataDir: cfg.DataDir, CleanerInterval: cfg.CleanerInterval, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	if s.redis, err = StartRedis(RedisConfig{Addr: cfg.RedisAddr, DataDir: cfg.DataDir, SnapshotInterval: time.Minute, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	topics := session.WithPrefix(cfg.TopicPrefix)
	if !cfg.KeepTopics {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err = startup.EnsureTopics(tctx, s.kafka.Cluster(), topics, cfg.Partitions, cfg.retention()); err != nil {
			return nil, fmt.Errorf("create topics: %w", err)
		}
	}

	reg := telemetry.NewRegistry()
	sdc := cfg.Sessiond
	sdc.Node, sdc.Kafka, sdc.Redis, sdc.KeyPrefix, sdc.Topics = cfg.Node, s.kafka.Cluster(), s.redis.Addr(), cfg.KeyPrefix, topics
	sdc.DefaultExpiry, sdc.MaxExpiry, sdc.Logger, sdc.Registry = cfg.DefaultExpiry, cfg.MaxExpiry, cfg.Logger, reg
	s.sd, err = sessiond.New(sdc)
	if err != nil {
		return nil, fmt.Errorf("session service: %w", err)
	}
	fec := cfg.Frontend
	fec.Node, fec.Kafka, fec.Redis, fec.KeyPrefix, fec.Topics = cfg.Node, s.kafka.Cluster(), s.redis.Addr(), cfg.KeyPrefix, topics
	fec.DefaultExpiry, fec.MaxExpiry, fec.Logger, fec.Registry = cfg.DefaultExpiry, cfg.MaxExpiry, cfg.Logger, reg
	s.fe, err = frontend.New(fec)
	if err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if cfg.AdminAddr != "" {
		s.adminRdb = redis.NewClient(&redis.Options{Addr: s.redis.Addr()})
		s.admin, err = admin.New(admin.Config{
			Addr: cfg.AdminAddr, Node: cfg.Node, Kafka: s.kafka.Cluster(), Redis: s.adminRdb, KeyPrefix: cfg.KeyPrefix, Topics: topics,
			Nodes:     admin.LivenessNodes(s.sd.Nodes),
			TokenFile: cfg.AdminTokenFile, ACLFile: cfg.ACLFile, ReloadInterval: cfg.ReloadInterval,
			Logger: cfg.Logger, Registry: reg,
		})
		if err != nil {
			return nil, fmt.Errorf("admin api: %w", err)
		}
		if err = s.admin.Start(); err != nil {
			s.admin = nil
			return nil, err
		}
	}
	if cfg.HTTPAddr != "" {
		// The frontend's checks cover Kafka and Redis for both.
		s.http = telemetry.NewHTTPServer(cfg.HTTPAddr, reg,
			append(s.fe.Checks(), telemetry.ReadyCheck("sessiond", s.sd.Ready))...)
		if cfg.Pprof {
			s.http.EnablePprof()
		}
		if err = s.http.Start(); err != nil {
			s.http = nil
			return nil, err
		}
	}

	// The services run on their own contexts so Stop can end them in
	// order: frontend first (its clients' last ops reach the log), then
	// the session service (it applies them), then the servers.
	var sdCtx, feCtx context.Context
	sdCtx, s.sdCancel = context.WithCancel(context.Background())
	feCtx, s.feCancel = context.WithCancel(context.Background())
	s.sdDone, s.feDone = make(chan error, 1), make(chan error, 1)
	go func() { s.sdDone <- s.sd.Run(sdCtx) }()
	go func() { s.feDone <- s.fe.Run(feCtx) }()

	if err = s.waitBound(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// waitBound waits until the frontend bound its configured listeners. The
// frontend offers no signal for this, so it polls, bounded in time; a Run
// that fails early (a listener error) ends the wait at once.
func (s *Server) waitBound(ctx context.Context) error {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if (s.cfg.Frontend.MQTTAddr == "" || s.fe.Addr("mqtt") != nil) && (s.cfg.Frontend.WSAddr == "" || s.fe.Addr("ws") != nil) {
			return nil
		}
		select {
		case err := <-s.feDone:
			s.feDone <- err // Stop reads it again
			if err == nil {
				err = errors.New("stopped before listening")
			}
			return fmt.Errorf("frontend: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("frontend: listeners not bound within 30s")
		case <-tick.C:
		}
	}
}

// Addrs returns the bound addresses.
func (s *Server) Addrs() Addrs {
	a := Addrs{MQTT: s.fe.Addr("mqtt"), WS: s.fe.Addr("ws"), Kafka: s.kafka.Addr(), Redis: s.redis.Addr()}
	if s.http != nil {
		a.HTTP = s.http.Addr()
	}
	if s.admin != nil {
		a.Admin = s.admin.Addr()
	}
	return a
}

// Ready reports whether both services serve.
func (s *Server) Ready() bool { return s.fe.Ready() && s.sd.Ready() }

// Stop shuts down in order (frontend, session service, HTTP, Redis,
// Kafka), giving each step ShutdownTimeout; a step that overruns is logged
// and the next one starts anyway, so Stop always returns.
func (s *Server) Stop() {
	s.stopOnce.Do(s.stop)
}

func (s *Server) stop() {
	wait := func(name string, cancel context.CancelFunc, done chan error) {
		if cancel == nil {
			return
		}
		cancel()
		t := time.NewTimer(s.cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("stopped with error", "component", name, "err", err)
			}
		case <-t.C:
			s.log.Error("did not stop in time; continuing shutdown", "component", name, "timeout", s.cfg.ShutdownTimeout)
		}
	}
	// shutdown stops a server, giving it ShutdownTimeout.
	shutdown := func(name string, f func(context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			s.log.Warn("shutdown", "component", name, "err", err)
		}
	}
	if s.admin != nil {
		shutdown("admin api", s.admin.Shutdown)
	}
	if s.adminRdb != nil {
		_ = s.adminRdb.Close()
	}
	wait("frontend", s.feCancel, s.feDone)
	wait("sessiond", s.sdCancel, s.sdDone)
	if s.http != nil {
		shutdown("http", s.http.Shutdown)
	}
	if s.redis != nil {
		if err := s.redis.Close(); err != nil {
			s.log.Error("embedded redis", "err", err)
		}
	}
	if s.kafka != nil {
		_ = s.kafka.Close()
	}
	if s.unlock != nil {
		s.unlock()
	}
}
