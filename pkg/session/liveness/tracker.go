package liveness

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	Brokers kafkalog.Cluster
	// Topic is the nodes topic.
	Topic string
	// Timeout is how long an incarnation may stay silent before it is
	// dead; default 10s.
	Timeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// OnDeath, when set, is called (without the Tracker's lock held) when
	// a record makes an incarnation dead at once: a newer incarnation of
	// its node announced itself, or it is down. Judging at once then
	// spares the wait for the next periodic judgement.
	OnDeath func()
}

// Tracker follows the nodes topic from its start and knows, for every
// incarnation it has read of, whether it is alive. All methods are safe
// for concurrent use.
type Tracker struct {
	cfg TrackerConfig
	fol *kafkalog.Follower
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	incs    map[string]*incState
	current map[string]string // role/node -> its latest incarnation not down
	// witness is the reader's own incarnation: silence is only counted
	// while its beats come back (heard is when the last one did).
	witness string
	heard   time.Time
	// unknown holds when an incarnation Judge was asked about was first
	// found missing from the topic.
	unknown map[string]time.Time
}

// incState is what the topic said about one incarnation.
type incState struct {
	last  Beat      // its latest announce or beat
	heard time.Time // when that was read (reader's clock)
	down  *Beat     // its down record, once there is one
}

// NewTracker returns a Tracker; it reads nothing until Run.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tracker{cfg: cfg, log: cfg.Logger, now: time.Now,
		incs: map[string]*incState{}, current: map[string]string{}, unknown: map[string]time.Time{}}
	t.fol = kafkalog.NewFollower(cfg.Brokers, kafkalog.FollowerOptions{Topic: cfg.Topic, Default: kafkalog.Earliest, Logger: cfg.Logger},
		func(rec *kafkalog.Record) {
			b, err := Decode(rec)
			if err != nil {
				t.log.Warn("nodes record skipped", "err", err)
				return
			}
			t.Observe(b)
		})
	return t
}

// Run creates the nodes topic if it is missing and follows it until ctx
// ends.
func (t *Tracker) Run(ctx context.Context) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := EnsureTopic(ctx, t.cfg.Brokers, t.cfg.Topic)
		if err == nil {
			break
		}
		t.log.Debug("nodes topic not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return t.fol.Run(ctx)
}

// Ready is closed once the Tracker knows where it reads from.
func (t *Tracker) Ready() <-chan struct{} { return t.fol.Ready() }

// Witness names the reader's own incarnation, whose beats prove that the
// Tracker hears the topic (see Hearing).
func (t *Tracker) Witness(inc string) {
	t.mu.Lock()
	t.witness = inc
	t.mu.Unlock()
}

// Hearing reports whether the witness's beats came back recently (within
// half the timeout): only then does silence say anything about others.
func (t *Tracker) Hearing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hearingLocked(t.now())
}

func (t *Tracker) hearingLocked(now time.Time) bool {
	return t.witness != "" && !t.heard.IsZero() && now.Sub(t.heard) <= t.cfg.Timeout/2
}

// Observe applies one record of the nodes topic (Run calls it for each).
func (t *Tracker) Observe(b *Beat) {
	if t.observe(b) && t.cfg.OnDeath != nil {
		t.cfg.OnDeath()
	}
}

// observe is Observe under the lock; it reports whether the record made an
// incarnation dead.
func (t *Tracker) observe(b *Beat) (death bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	st := t.incs[b.Inc]
	if st == nil {
		st = &incState{last: Beat{Node: b.Node, Inc: b.Inc, Role: b.Role, Started: b.Started, TS: b.TS}}
		t.incs[b.Inc] = st
		delete(t.unknown, b.Inc)
	}
	if b.Kind == KindDown {
		if st.down == nil {
			d := *b
			st.down = &d
			death = true
		}
		if k := st.key(); t.current[k] == b.Inc {
			delete(t.current, k)
		}
		return death
	}
	if b.Inc == t.witness {
		if !t.hearingLocked(now) {
			// The reader was deaf (just started, paused, or cut off from
			// Kafka): nobody's silence during that time counts.
			for _, o := range t.incs {
				o.heard = now
			}
		}
		t.heard = now
	}
	if st.down != nil {
		return false // dead stays dead, whatever it still says
	}
	st.last, st.heard = *b, now
	k := st.key()
	if prev := t.current[k]; prev != "" && prev != b.Inc {
		if p := t.incs[prev]; p != nil && p.last.Started == b.Started && p.last.Gen > b.Gen {
			// A late beat of an incarnation its process has renewed
			// since (written while it renewed): it stays superseded,
			// and must not supersede the newer one.
			return true
		}
		death = true
	}
	t.current[k] = b.Inc
	return death
}

// key names the process an incarnation is one start of.
func (st *incState) key() string { return st.last.Role + "/" + st.last.Node }

// Verdict is the Tracker's judgement of one incarnation.
type Verdict struct {
	Dead bool
	// Reason is DownTimeout, DownRestarted or DownStopped when Dead.
	Reason string
	// LastAlive is when it was last known alive (unix ms).
	LastAlive int64
}

// Judge says whether incarnation inc of node is dead: down on the topic,
// superseded by a newer incarnation of the same process, silent longer than the
// timeout, or unknown to the topic for longer than the timeout (its
// records were compacted away, or never written). While the Tracker is
// not Hearing, only the first two count.
func (t *Tracker) Judge(inc, node string) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	hearing := t.hearingLocked(now)
	st := t.incs[inc]
	switch {
	case st == nil:
		first, ok := t.unknown[inc]
		if !ok {
			t.unknown[inc] = now
			return Verdict{}
		}
		if hearing && now.Sub(first) > t.cfg.Timeout {
			return Verdict{Dead: true, Reason: DownTimeout, LastAlive: first.UnixMilli()}
		}
	case st.down != nil:
		return Verdict{Dead: true, Reason: st.down.Reason, LastAlive: min(st.last.TS, st.down.TS)}
	case t.current[st.key()] != inc:
		return Verdict{Dead: true, Reason: DownRestarted, LastAlive: st.last.TS}
	case hearing && now.Sub(st.heard) > t.cfg.Timeout:
		return Verdict{Dead: true, Reason: DownTimeout, LastAlive: st.last.TS}
	}
	return Verdict{}
}

// States of NodeStatus.
const (
	StateAlive      = "alive"      // beating within the timeout
	StateSilent     = "silent"     // not heard for longer than the timeout
	StateSuperseded = "superseded" // a newer incarnation of its node announced itself
	StateDown       = "down"       // signed off, or declared dead
)

// NodeStatus is one incarnation as the nodes topic shows it.
type NodeStatus struct {
	Node, Inc, Role, Version string
	Started, LastBeat        time.Time
	// Conns is the number of sessions it had connected at its last beat.
	Conns int
	// State is one of the State constants; DownReason says why when down.
	State, DownReason string
}

// Nodes lists every incarnation read so far, by node name then start.
func (t *Tracker) Nodes() []NodeStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	out := make([]NodeStatus, 0, len(t.incs))
	for inc, st := range t.incs {
		ns := NodeStatus{Node: st.last.Node, Inc: inc, Role: st.last.Role, Version: st.last.Version,
			Started: time.UnixMilli(st.last.Started), LastBeat: time.UnixMilli(st.last.TS), Conns: st.last.Conns, State: StateAlive}
		switch {
		case st.down != nil:
			ns.State, ns.DownReason = StateDown, st.down.Reason
		case t.current[st.key()] != inc:
			ns.State = StateSuperseded
		case now.Sub(st.heard) > t.cfg.Timeout:
			ns.State = StateSilent
		}
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Started.Before(out[j].Started)
	})
	return out
}

// Alive counts the incarnations of role that are alive.
func (t *Tracker) Alive(role string) int {
	n := 0
	for _, ns := range t.Nodes() {
		if ns.Role == role && ns.State == StateAlive {
			n++
		}
	}
	return n
}
