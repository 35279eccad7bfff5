package liveness

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Appender is the part of kafkalog.Appender a Heart uses.
type Appender interface {
	Append(ctx context.Context, recs ...*kafkalog.Record) error
}

// HeartConfig configures a Heart.
type HeartConfig struct {
	// Topic is the nodes topic.
	Topic string
	// Node and Role name the process.
	Node, Role string
	// Interval between beats; default 1s. Keep it well below the session
	// service's node timeout: a few lost beats must not look like a death.
	Interval time.Duration
	// Brokers, when set, let Run create the nodes topic if it is missing.
	Brokers kafkalog.Cluster
	// Conns, when set, reports the sessions connected, for the beats.
	Conns func() int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Heart announces one process's incarnation on the nodes topic and beats
// for it. A frontend that learns the cluster declared its incarnation dead
// (it was cut off, or paused, for too long) starts a new one (Renew).
type Heart struct {
	cfg     HeartConfig
	app     Appender
	log     *slog.Logger
	started time.Time
	version string

	announced chan struct{} // closed at the first announcement
	renewed   chan struct{} // a new incarnation waits for its announcement

	mu  sync.Mutex
	inc string
	gen int // renewals so far (Beat.Gen)
}

// NewHeart returns a Heart for a new incarnation; nothing is written
// until Run.
func NewHeart(app Appender, cfg HeartConfig) *Heart {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Heart{
		cfg: cfg, app: app, log: cfg.Logger, started: time.Now(), version: Version(),
		announced: make(chan struct{}), renewed: make(chan struct{}, 1), inc: uuid.NewString(),
	}
}

// Inc returns the current incarnation.
func (h *Heart) Inc() string {
	inc, _ := h.current()
	return inc
}

// current returns the incarnation and its generation, read together.
func (h *Heart) current() (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inc, h.gen
}

// Started returns when the process started (the Heart was made).
func (h *Heart) Started() time.Time { return h.started }

// Announced is closed once the first incarnation is on the nodes topic:
// before that, nothing of this process may be logged under it.
func (h *Heart) Announced() <-chan struct{} { return h.announced }

// Renew replaces the incarnation with a new one, which Run announces at
// once, and returns the old one.
func (h *Heart) Renew() (old string) {
	h.mu.Lock()
	old, h.inc = h.inc, uuid.NewString()
	h.gen++
	h.mu.Unlock()
	select {
	case h.renewed <- struct{}{}:
	default:
	}
	return old
}

// Run announces the incarnation (retrying while Kafka is away), then beats
// every Interval until ctx ends. It does not sign off: a process calls
// SignOff once its last words are in the log.
func (h *Heart) Run(ctx context.Context) {
	if len(h.cfg.Brokers.Brokers) > 0 {
		h.retry(ctx, "create nodes topic", func(ctx context.Context) error {
			return EnsureTopic(ctx, h.cfg.Brokers, h.cfg.Topic)
		})
	}
	if !h.retry(ctx, "announce", func(ctx context.Context) error { return h.write(ctx, KindAnnounce) }) {
		return
	}
	close(h.announced)
	h.log.Info("incarnation announced", "inc", h.Inc())
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		kind := KindBeat
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.renewed:
			kind = KindAnnounce
		}
		err := h.write(ctx, kind)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			h.log.Warn("heartbeat failed; retrying", "err", err)
			failing = true
		case err == nil && kind == KindAnnounce:
			h.log.Info("incarnation announced", "inc", h.Inc())
		case err == nil && failing:
			h.log.Info("heartbeat written again")
			failing = false
		}
		if err != nil && kind == KindAnnounce {
			// A new incarnation must be announced before it beats.
			select {
			case h.renewed <- struct{}{}:
			default:
			}
		}
	}
}

// SignOff writes that the incarnation stopped, so the session service
// need not wait out the node timeout to know it.
func (h *Heart) SignOff(ctx context.Context) error {
	b := h.beat(KindDown)
	b.Reason, b.By = DownStopped, h.cfg.Node
	return h.app.Append(ctx, b.Record(h.cfg.Topic))
}

func (h *Heart) beat(kind string) *Beat {
	inc, gen := h.current()
	b := &Beat{Kind: kind, Node: h.cfg.Node, Inc: inc, Gen: gen, Role: h.cfg.Role, Started: h.started.UnixMilli(),
		TS: time.Now().UnixMilli(), Version: h.version}
	if h.cfg.Conns != nil {
		b.Conns = h.cfg.Conns()
	}
	return b
}

func (h *Heart) write(ctx context.Context, kind string) error {
	wctx, cancel := context.WithTimeout(ctx, max(h.cfg.Interval, 5*time.Second))
	defer cancel()
	return h.app.Append(wctx, h.beat(kind).Record(h.cfg.Topic))
}

// retry runs fn until it succeeds (true) or ctx ends (false), logging the
// first failure only.
func (h *Heart) retry(ctx context.Context, what string, fn func(context.Context) error) bool {
	wait := 100 * time.Millisecond
	for warned := false; ; {
		err := fn(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !warned {
			h.log.Warn(what+" failed; retrying", "err", err)
			warned = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}
