// Package admin is the operators' HTTP API (JSON, described by the
// OpenAPI document openapi.yaml): sessions listed, inspected, explained
// and acted on, history read from the log, messages published and
// retained messages managed, frontend nodes listed. The session service
// and the standalone broker serve it on an address of their own.
//
// Reads come from the Redis view (through pkg/session's Reader) and the
// Kafka topics; every action is an op appended to the sessions topic,
// fenced by the session's epoch and applied by the session service like
// any other op, so the log is the audit trail: each op names the token
// that caused it. Bearer tokens come from a file (pkg/auth), each with a
// role: read, or admin for the actions.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// Tokens resolves bearer tokens: *auth.TokenFile.
type Tokens interface {
	Lookup(secret string) (auth.Token, bool)
}

// ReadRules decides whether a client may read a topic: *auth.ACLFile.
// Explain uses it to tell a message denied by the ACL.
type ReadRules interface {
	CanRead(c auth.Client, name string) bool
}

// Config configures a Server. Zero values take the defaults named.
type Config struct {
	// Addr is the listen address of the API (host:port); required.
	Addr string
	// Node names the server in the ops it appends; default the host name.
	Node string
	// Kafka is the cluster (brokers and security).
	Kafka kafkalog.Cluster
	// Redis is the session view; the Server only reads it.
	Redis redis.UniversalClient
	// KeyPrefix is the view's key prefix (session.Options).
	KeyPrefix string
	// Topics default to session.DefaultTopics.
	Topics session.Topics
	// TokenFile is the token file (pkg/auth format), watched and
	// reloaded; Tokens, when set, is used instead. One of them is
	// required: without tokens nobody gets in.
	TokenFile string
	Tokens    Tokens
	// ACLFile is the Mosquitto-format ACL file the frontends apply,
	// watched and reloaded; ACL, when set, is used instead. Without
	// either, explain reports the ACL as unchecked.
	ACLFile string
	ACL     ReadRules
	// ReloadInterval is how often the files are checked for changes;
	// default auth.DefaultInterval.
	ReloadInterval time.Duration
	// Nodes lists the frontends; default SessionNodes (from the view).
	Nodes NodeLister
	// ApplyTimeout bounds how long an action waits for the session
	// service to apply its op; default 10s.
	ApplyTimeout time.Duration
	// AppendTimeout bounds how long an append is retried while Kafka does
	// not acknowledge it; default 30s, as the frontends' publishes.
	AppendTimeout time.Duration
	// ScanLimit bounds the records one request reads from one topic for
	// history, explain and backlog; default 200000.
	ScanLimit int64
	// Logger defaults to slog.Default(); Registry receives the metrics
	// when set.
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// ErrConfig is wrapped by New's errors for unusable configurations.
var ErrConfig = errors.New("invalid admin config")

func (c *Config) defaults() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: no address", ErrConfig)
	case len(c.Kafka.Brokers) == 0:
		return fmt.Errorf("%w: no kafka brokers", ErrConfig)
	case c.Redis == nil:
		return fmt.Errorf("%w: no redis", ErrConfig)
	case c.Tokens == nil && c.TokenFile == "":
		return fmt.Errorf("%w: no token file", ErrConfig)
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
		if c.Node == "" {
			c.Node = "admin"
		}
	}
	c.Topics = c.Topics.WithDefaults()
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	if c.AppendTimeout <= 0 {
		c.AppendTimeout = 30 * time.Second
	}
	if c.ScanLimit <= 0 {
		c.ScanLimit = 200_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server is the admin API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	reader   *session.Reader
	app      *kafkalog.Appender
	retained *retainedStore
	nodes    NodeLister
	met      *metrics
	mux      *http.ServeMux

	// files are the watched token and ACL files, run while serving.
	files []interface{ Run(context.Context) error }

	http *http.Server
	ln   net.Listener
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New checks cfg and builds a Server; nothing listens until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	opt := auth.WatchOptions{Interval: cfg.ReloadInterval, Logger: cfg.Logger}
	var files []interface{ Run(context.Context) error }
	if cfg.Tokens == nil {
		f, err := auth.OpenTokenFile(cfg.TokenFile, opt)
		if err != nil {
			return nil, fmt.Errorf("admin token file: %w", err)
		}
		cfg.Tokens, files = f, append(files, f)
	}
	if cfg.ACL == nil && cfg.ACLFile != "" {
		f, err := auth.OpenACLFile(cfg.ACLFile, opt)
		if err != nil {
			return nil, fmt.Errorf("acl file: %w", err)
		}
		cfg.ACL, files = f, append(files, f)
	}
	s := &Server{
		files:  files,
		cfg:    cfg,
		log:    cfg.Logger.With("component", "admin"),
		reader: session.NewReaderOptions(cfg.Redis, session.Options{Prefix: cfg.KeyPrefix}),
		met:    met,
	}
	s.nodes = cfg.Nodes
	if s.nodes == nil {
		s.nodes = SessionNodes{Kafka: cfg.Kafka, Topic: cfg.Topics.Sessions, Reader: s.reader}
	}
	s.mux = s.routes()
	return s, nil
}

// Handler is the API's HTTP handler (tests serve it themselves).
func (s *Server) Handler() http.Handler { return s.mux }

// Start binds the address and serves in the background; it also starts
// following the retained topic. Stop it with Shutdown.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.app = kafkalog.NewAppender(s.cfg.Kafka, kafkalog.AppenderOptions{Logger: s.log})
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.retained = newRetainedStore(s.cfg.Kafka, s.cfg.Topics.Retained, s.log)
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(2 + len(s.files))
	for _, f := range s.files {
		go func() { defer s.wg.Done(); _ = f.Run(ctx) }()
	}
	go func() { defer s.wg.Done(); s.retained.run(ctx) }()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin api stopped", "err", err)
		}
	}()
	s.log.Info("admin api listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the bound address (after Start).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// append appends recs with acks=all, retrying with back-off while Kafka
// is unavailable, up to AppendTimeout. A retry after a write that did
// land logs it twice: a second administrative op is fenced or changes
// nothing, a second message is the at-least-once of QoS 1.
func (s *Server) append(ctx context.Context, recs ...*kafkalog.Record) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AppendTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	for tries := 0; ; tries++ {
		err := s.app.Append(ctx, recs...)
		if err == nil || !errors.Is(err, kafkalog.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		if tries == 0 {
			s.log.Warn("append failed; retrying", "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// Shutdown stops serving (requests in flight finish within ctx), stops
// the retained follower and waits for both.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	err := s.http.Shutdown(ctx)
	s.stop()
	s.wg.Wait()
	if cerr := s.app.Close(); err == nil {
		err = cerr
	}
	return err
}
