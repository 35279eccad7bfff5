// Package bench runs the load scenarios of mqtt-bench against an MQTT broker
// and measures them: throughput, publish-to-deliver latency from a timestamp
// in every payload, and message integrity (lost, duplicated, reordered) from
// a (publisher, sequence) pair in every payload. Every scenario is bounded
// both in message count and in time, and only loopback targets are allowed,
// so the tool cannot be turned against a remote host by mistake.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/latency"
)

// Scenario names.
const (
	PubSub       = "pubsub"
	ConnectStorm = "connect-storm"
	Idle         = "idle"
	Replay       = "replay"
)

// Topic patterns of the pubsub scenario.
const (
	FanIn  = "fan-in"  // many publishers, one subscriber per topic
	FanOut = "fan-out" // publishers on one topic, every subscriber gets all
	P2P    = "p2p"     // publisher i to subscriber i on its own topic
	Shared = "shared"  // publishers on one topic, subscribers in one $share group
)

// Hard caps that hold whatever the flags say.
const (
	MaxDuration = 10 * time.Minute
	MaxCount    = 100_000_000
	MaxConns    = 100_000
)

// Sentinel errors of configuration checks.
var (
	// ErrNotLoopback means a target address is not on this host.
	ErrNotLoopback = errors.New("only loopback targets are allowed (127.0.0.0/8, ::1, localhost)")
	// ErrConfig means a setting is out of range or inconsistent.
	ErrConfig = errors.New("invalid configuration")
)

// Config describes one run. Defaults are applied by Normalize.
type Config struct {
	Scenario string
	Pattern  string
	// PubAddrs and SubAddrs are the brokers publishers and subscribers
	// connect to; connection k uses address k modulo the list length, so a
	// publisher on one frontend and a subscriber on another is two lists.
	// ConnectStorm and Idle use SubAddrs.
	PubAddrs, SubAddrs []string

	Publishers, Subscribers int
	Connections             int // connect-storm and idle
	QoS                     byte
	SubQoS                  byte    // subscription QoS; 0 means the same as QoS
	Size                    int     // payload bytes, at least HeaderSize
	Rate                    float64 // messages/s over all publishers; 0 = as fast as possible
	Count                   int     // messages over all publishers
	// Duration caps each phase: publishing, then draining the last
	// deliveries (replay: publishing, then replaying), or connecting
	// (connect-storm, idle).
	Duration time.Duration
	// Drain ends the wait for the last deliveries early once nothing has
	// arrived for this long.
	Drain         time.Duration
	Hold          time.Duration // idle: how long connections are held once open
	Version       mqtt.Version
	Clean         bool
	SessionExpiry uint32 // MQTT 5, seconds, for persistent sessions
	Inflight      int    // per publisher, QoS 1/2
	Concurrency   int    // parallel CONNECTs
	KeepAlive     time.Duration
	TopicPrefix   string
	ShareGroup    string
	RunID         string // makes topics and client ids unique per run
	PID           int    // idle: broker process whose RSS is reported
	// Held, when set, is called by idle while every connection is open,
	// after the hold and before RSS is read: the moment to snapshot the
	// broker (a heap profile).
	Held     func()
	Progress io.Writer // one line per second and phase changes; nil = silent
}

// Normalize fills defaults and checks ranges and loopback addresses.
func (c *Config) Normalize() error {
	if c.Scenario == "" {
		c.Scenario = PubSub
	}
	if c.Pattern == "" {
		c.Pattern = FanIn
	}
	if c.Version == 0 {
		c.Version = mqtt.V311
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Count == 0 {
		c.Count = 10_000
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 3 * time.Second
	}
	if c.Hold == 0 {
		c.Hold = 10 * time.Second
	}
	if c.Inflight == 0 {
		c.Inflight = 64
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60 * time.Second
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "bench"
	}
	if c.ShareGroup == "" {
		c.ShareGroup = "g"
	}
	if c.RunID == "" {
		c.RunID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff)
	}
	if c.SessionExpiry == 0 {
		c.SessionExpiry = 300
	}
	if c.SubQoS == 0 {
		c.SubQoS = c.QoS
	}
	if c.Publishers == 0 {
		c.Publishers = 1
	}
	if c.Subscribers == 0 {
		c.Subscribers = 1
	}
	if c.Connections == 0 {
		c.Connections = 1000
	}
	switch {
	case c.QoS > 2 || c.SubQoS > 2:
		return fmt.Errorf("%w: qos must be 0, 1 or 2", ErrConfig)
	case c.Size < HeaderSize:
		return fmt.Errorf("%w: payload size must be at least %d bytes (publisher, sequence, timestamp)", ErrConfig, HeaderSize)
	case c.Size > 256<<20:
		return fmt.Errorf("%w: payload size above 256 MiB", ErrConfig)
	case c.Count < 0 || c.Count > MaxCount:
		return fmt.Errorf("%w: count must be 1..%d", ErrConfig, MaxCount)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("%w: duration must be up to %v", ErrConfig, MaxDuration)
	case c.Drain < 0 || c.Drain > MaxDuration:
		return fmt.Errorf("%w: drain must be up to %v", ErrConfig, MaxDuration)
	case c.Hold < 0 || c.Hold > MaxDuration:
		return fmt.Errorf("%w: hold must be up to %v", ErrConfig, MaxDuration)
	case c.Rate < 0:
		return fmt.Errorf("%w: negative rate", ErrConfig)
	case c.Publishers < 0 || c.Subscribers < 0 || c.Publishers+c.Subscribers > MaxConns || c.Connections < 0 || c.Connections > MaxConns:
		return fmt.Errorf("%w: at most %d connections", ErrConfig, MaxConns)
	case c.Version != mqtt.V31 && c.Version != mqtt.V311 && c.Version != mqtt.V5:
		return fmt.Errorf("%w: protocol version %d", ErrConfig, c.Version)
	}
	switch c.Pattern {
	case FanIn, FanOut, Shared:
	case P2P:
		if c.Publishers != c.Subscribers {
			return fmt.Errorf("%w: p2p needs as many publishers as subscribers", ErrConfig)
		}
	default:
		return fmt.Errorf("%w: unknown pattern %q", ErrConfig, c.Pattern)
	}
	if len(c.SubAddrs) == 0 {
		c.SubAddrs = c.PubAddrs
	}
	if len(c.PubAddrs) == 0 {
		c.PubAddrs = c.SubAddrs
	}
	if len(c.PubAddrs) == 0 {
		return fmt.Errorf("%w: no broker address", ErrConfig)
	}
	for _, a := range append(append([]string{}, c.PubAddrs...), c.SubAddrs...) {
		if err := CheckLoopback(a); err != nil {
			return err
		}
	}
	return nil
}

// CheckLoopback accepts host:port where host is localhost or a loopback IP.
// Names other than localhost are refused rather than resolved, so nothing
// outside this host can be reached through DNS.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// Result is the report of one run; fields that do not apply to a scenario
// are left zero and omitted from JSON.
type Result struct {
	Scenario    string  `json:"scenario"`
	Pattern     string  `json:"pattern,omitempty"`
	Version     string  `json:"mqtt_version,omitempty"`
	QoS         byte    `json:"qos"`
	Size        int     `json:"payload_bytes,omitempty"`
	Publishers  int     `json:"publishers,omitempty"`
	Subscribers int     `json:"subscribers,omitempty"`
	Connections int     `json:"connections,omitempty"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	Elapsed     float64 `json:"elapsed_s"`

	Sent          uint64           `json:"sent,omitempty"`
	Acked         uint64           `json:"acked,omitempty"`
	Unacked       uint64           `json:"unacked,omitempty"`
	Expected      uint64           `json:"expected,omitempty"`
	Received      uint64           `json:"received,omitempty"`
	ThroughputIn  float64          `json:"throughput_in,omitempty"`  // messages/s published
	ThroughputOut float64          `json:"throughput_out,omitempty"` // messages/s delivered
	Latency       *latency.Summary `json:"latency,omitempty"`        // publish to deliver
	AckLatency    *latency.Summary `json:"ack_latency,omitempty"`    // publish to PUBACK/PUBCOMP
	Lost          uint64           `json:"lost"`
	// Undelivered replaces Lost when the drain phase hit its time cap while
	// deliveries were still arriving: the broker was behind (a backlog in
	// socket buffers or queues), and nothing says those messages were lost.
	Undelivered uint64 `json:"undelivered_at_cap,omitempty"`
	// Unconfirmed counts messages of publishers' batches whose write failed
	// (a write deadline, a closed connection): not in Sent, so never lost,
	// and not unexpected if some of them arrived.
	Unconfirmed uint64 `json:"unconfirmed,omitempty"`
	Duplicated  uint64 `json:"duplicated"`
	OutOfOrder  uint64 `json:"out_of_order"`
	Unexpected  uint64 `json:"unexpected,omitempty"`
	Invalid     uint64 `json:"invalid,omitempty"`

	Connects       uint64           `json:"connects,omitempty"`
	ConnectRate    float64          `json:"connect_rate,omitempty"` // CONNACKs/s
	ConnectLatency *latency.Summary `json:"connect_latency,omitempty"`

	RSSBeforeKiB int64    `json:"rss_before_kib,omitempty"`
	RSSAfterKiB  int64    `json:"rss_after_kib,omitempty"`
	KiBPerConn   *float64 `json:"kib_per_conn,omitempty"` // nil without --pid; may be 0 or negative (RSS is noisy)

	Replayed   uint64  `json:"replayed,omitempty"`
	ReplayRate float64 `json:"replay_rate,omitempty"` // messages/s from reconnect until drained

	Errors       uint64   `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// Run executes cfg.Scenario. The context bounds the run as a whole; each
// scenario also stops at its own count and time caps.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	// A backstop over the per-phase caps (connection set-up and close are
	// not capped by them).
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.Duration+cfg.Hold+time.Minute)
	defer cancel()
	res := &Result{Scenario: cfg.Scenario, Version: cfg.Version.String(), QoS: cfg.QoS}
	errs := &errorLog{}
	var err error
	switch cfg.Scenario {
	case PubSub:
		err = runPubSub(ctx, &cfg, res, errs)
	case ConnectStorm:
		err = runStorm(ctx, &cfg, res, errs)
	case Idle:
		err = runIdle(ctx, &cfg, res, errs)
	case Replay:
		err = runReplay(ctx, &cfg, res, errs)
	default:
		return nil, fmt.Errorf("%w: unknown scenario %q", ErrConfig, cfg.Scenario)
	}
	res.Errors, res.ErrorSamples = errs.snapshot()
	return res, err
}

// errorLog counts errors and keeps the first few for the report.
type errorLog struct {
	n       atomic.Uint64
	mu      sync.Mutex
	samples []string
}

func (e *errorLog) add(err error) {
	e.n.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.samples) < 5 {
		e.samples = append(e.samples, err.Error())
	}
}

func (e *errorLog) snapshot() (uint64, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n.Load(), append([]string(nil), e.samples...)
}

// say prints a phase change to the progress output, if any.
func (c *Config) say(format string, a ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, format+"\n", a...)
	}
}

func summary(h *latency.Histogram) *latency.Summary {
	if h.Count() == 0 {
		return nil
	}
	s := h.Summary()
	return &s
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
