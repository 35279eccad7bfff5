package sessiond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// Service is one session-service instance. Several instances share the
// sessions partitions through the consumer group; each partition (and so
// each client) has exactly one owner at a time.
type Service struct {
	cfg    Config
	log    *slog.Logger
	rdb    redis.UniversalClient
	ownRdb bool
	w      *session.Writer
	app    *kafkalog.Appender
	group  *kafkalog.Group
	met    *metrics
	q      *queue

	tracker  *liveness.Tracker // judges frontend incarnations
	heart    *liveness.Heart   // this instance's own beats: proof the tracker hears
	judgeNow chan struct{}     // the tracker read a death: judge without waiting

	mu    sync.Mutex
	parts map[int]*part // owned sessions partitions
	// downSeen holds the incarnations this instance has declared down.
	downSeen map[string]bool
	assigned atomic.Bool
	stopping atomic.Bool // set at shutdown: handle no more ops
	// announceFailing: the last applied announcement failed (said once).
	announceFailing atomic.Bool
	// assignedNow wakes the expiry check after an assignment.
	assignedNow chan struct{}
	// token names this instance in the partitions' owner claims.
	token string
	// workCtx is the context of the partition workers: it outlives Run's
	// ctx until the final commit is done.
	workCtx context.Context
}

// part is the state of one owned sessions partition. Handle calls for it
// come from one goroutine at a time (the group's per-partition loop).
type part struct {
	n       int
	applied int64 // last op offset applied to Redis
	next    atomic.Int64
	done    int64 // last committed next offset (committer only)

	// sessions by state (online, offline), for the sessions gauge
	online, offline atomic.Int64
	// pendingWills counts the delayed wills (expiry loop), for its gauge.
	pendingWills atomic.Int64

	// handling is held while a run of ops is processed, so the final
	// commit at shutdown waits for the run in flight and covers it.
	handling sync.Mutex

	// The worker applies runs of the records Handle passes it (see
	// run.go).
	in     chan *kafkalog.Record
	stop   chan struct{}
	exited chan struct{}
	failed chan struct{} // closed, with err set, when another instance owns the partition
	err    error

	// down holds the frontend incarnations declared down in this
	// partition (worker only): their later connect ops are ignored.
	down map[string]bool

	mu sync.Mutex
	// timers holds, per op kind (expire, will), the ClientIDs whose op was
	// appended and not yet applied, with the session epoch it names.
	timers map[string]map[string]int64
	// declared holds the incarnations this instance appended a node_down
	// op for in this partition.
	declared map[string]bool
}

// doneTimers forgets the expire and will ops that a run applied.
func (p *part) doneTimers(ops []*session.Op) {
	if len(ops) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, op := range ops {
		delete(p.timers[op.Kind], op.ClientID)
	}
}

// New checks cfg and builds a Service; nothing runs until Run.
func New(cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "sessiond"), parts: map[int]*part{},
		token: cfg.Node + "/" + uuid.NewString(), assignedNow: make(chan struct{}, 1),
		judgeNow: make(chan struct{}, 1), downSeen: map[string]bool{}}
	s.tracker = liveness.NewTracker(liveness.TrackerConfig{Brokers: cfg.Kafka, Topic: cfg.Topics.Nodes, Timeout: cfg.NodeTimeout,
		Logger: s.log, OnDeath: s.poke})
	s.rdb = cfg.RedisClient
	if s.rdb == nil {
		s.rdb = redis.NewClient(&redis.Options{Addr: cfg.Redis})
		s.ownRdb = true
	}
	s.w = session.NewWriter(s.rdb, session.Options{Prefix: cfg.KeyPrefix})
	met, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s.met = met
	s.q = newQueue(s)
	if err := observeQueue(cfg.Registry, s.q); err != nil {
		return nil, err
	}
	if err := observeNodes(cfg.Registry, s.tracker, s.pendingWills); err != nil {
		return nil, err
	}
	return s, nil
}

// Run consumes the sessions topic, follows the messages topic for offline
// queues and checks expiry until ctx ends. Errors of Kafka or Redis are
// retried (the group rejoins); Run returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.app = kafkalog.NewAppender(s.cfg.Kafka, kafkalog.AppenderOptions{Logger: s.log})
	defer s.app.Close()
	s.heart = liveness.NewHeart(s.app, liveness.HeartConfig{Topic: s.cfg.Topics.Nodes, Node: s.cfg.Node,
		Role: liveness.RoleSessiond, Interval: min(time.Second, s.cfg.NodeTimeout/4), Brokers: s.cfg.Kafka, Logger: s.log})
	s.tracker.Witness(s.heart.Inc())
	if s.ownRdb {
		defer s.rdb.Close()
	}
	s.group = kafkalog.NewGroup(kafkalog.GroupOptions{
		Cluster: s.cfg.Kafka, GroupID: s.cfg.GroupID, Topic: s.cfg.Topics.Sessions,
		SessionTimeout: s.cfg.SessionTimeout, Logger: s.log,
	}, handler{s})
	// The group runs on its own context so that, at shutdown, the final
	// commit happens while the generation still owns the partitions.
	gctx, gcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer gcancel()
	s.workCtx = gctx
	var wg, gwg sync.WaitGroup
	run := func(wg *sync.WaitGroup, ctx context.Context, f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(&wg, ctx, s.q.run)
	run(&wg, ctx, s.commitLoop)
	run(&wg, ctx, s.expiryLoop)
	run(&wg, ctx, s.heart.Run)
	run(&wg, ctx, func(ctx context.Context) {
		if err := s.tracker.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("nodes follower stopped", "err", err)
		}
	})
	run(&wg, ctx, s.judgeLoop)
	run(&gwg, gctx, func(ctx context.Context) {
		if err := s.group.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("consumer group stopped", "err", err)
		}
	})
	<-ctx.Done()
	wg.Wait()
	// Stop handling, wait for the ops in flight, and commit everything
	// applied while the generation still owns the partitions: the next
	// owner then starts exactly after the last applied op.
	s.stopping.Store(true)
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range s.owned() {
		p.handling.Lock() // waits for the run in flight, if any
		s.commitPart(cctx, p)
		p.handling.Unlock()
	}
	gcancel()
	gwg.Wait()
	if err := s.heart.SignOff(cctx); err != nil {
		s.log.Warn("sign off", "err", err)
	}
	return nil
}

// Ready reports whether the instance has joined the group (has an
// assignment, possibly empty) and follows the messages and nodes topics.
func (s *Service) Ready() bool {
	select {
	case <-s.tracker.Ready():
	default:
		return false
	}
	return s.assigned.Load() && s.q.ready()
}

// Nodes lists every process incarnation the nodes topic has shown this
// instance, alive or not: which frontends are alive, since when, with how
// many sessions, and on which version.
func (s *Service) Nodes() []liveness.NodeStatus { return s.tracker.Nodes() }

// handler adapts Service to kafkalog.GroupHandler without exporting the
// callbacks on Service.
type handler struct{ s *Service }

// Assigned takes the partitions over (see Service.assign).
func (h handler) Assigned(ctx context.Context, parts map[int]int64) error {
	return h.s.assign(ctx, parts)
}

// Handle passes a record to its partition's worker.
func (h handler) Handle(ctx context.Context, rec *kafkalog.Record) error { return h.s.handle(ctx, rec) }

// Revoked stops the partitions' workers and forgets their sessions.
func (h handler) Revoked(parts []int) { h.s.revoke(parts) }

// assign takes over partitions: it brings Redis up to the committed offset
// when it is behind (a wiped or restored Redis: the rebuild of invariant
// 4), then loads the partitions' offline sessions for queueing and expiry.
func (s *Service) assign(ctx context.Context, committed map[int]int64) error {
	for n, next := range committed {
		// Claim first: from here a previous owner that still runs (paused,
		// cut off from Kafka) can no longer write this partition's view.
		if err := s.w.Claim(ctx, n, s.token); err != nil {
			return err
		}
		// The admin API pages sessions through the index; a view
		// written before it existed gets it here.
		if err := s.w.IndexPartition(ctx, n); err != nil {
			return err
		}
		applied, ok, err := s.w.Applied(ctx, n)
		if err != nil {
			return err
		}
		down, err := s.w.Down(ctx, n)
		if err != nil {
			return err
		}
		p := &part{n: n, applied: applied, down: down, declared: map[string]bool{},
			timers: map[string]map[string]int64{session.OpExpire: {}, session.OpWill: {}}}
		if next > 0 && (!ok || applied < next-1) {
			from := applied + 1
			if !ok {
				from = 0
			}
			start := time.Now()
			count, err := s.rebuild(ctx, p, from, next)
			if err != nil {
				return fmt.Errorf("rebuild partition %d: %w", n, err)
			}
			s.log.Info("rebuilt session view from the log", "partition", n, "from", from, "to", next, "ops", count, "took", time.Since(start))
		}
		if !ok && next <= 0 {
			p.applied = -1
		}
		p.next.Store(next)
		p.done = next
		on, off, err := s.q.load(ctx, n)
		if err != nil {
			return err
		}
		p.online.Store(on)
		p.offline.Store(off)
		// The worker starts only once the partition is taken over and is
		// registered with it: Revoked stops the workers of registered
		// partitions, so a failed take-over must leave none running.
		s.startWorker(p)
		s.mu.Lock()
		s.parts[n] = p
		s.mu.Unlock()
	}
	s.updateGauges()
	s.assigned.Store(true)
	select {
	case s.assignedNow <- struct{}{}:
	default:
	}
	return nil
}

// pendingWills sums the delayed wills of the owned partitions.
func (s *Service) pendingWills() float64 {
	var n int64
	for _, p := range s.owned() {
		n += p.pendingWills.Load()
	}
	return float64(n)
}

// updateGauges recomputes the gauges summed over owned partitions.
func (s *Service) updateGauges() {
	parts := s.owned()
	var on, off int64
	for _, p := range parts {
		on += p.online.Load()
		off += p.offline.Load()
	}
	s.met.partitions.Set(float64(len(parts)))
	s.met.sessions.WithLabelValues(stateOnline).Set(float64(on))
	s.met.sessions.WithLabelValues(stateOffline).Set(float64(off))
}

// count moves one session between states in p's counts.
func (p *part) count(from, to string) {
	if from == to || to == "" {
		return
	}
	for st, d := range map[string]int64{from: -1, to: 1} {
		switch st {
		case stateOnline:
			p.online.Add(d)
		case stateOffline:
			p.offline.Add(d)
		}
	}
}

// rebuild applies the ops of [from, to) silently: their events were
// announced when they were first applied.
func (s *Service) rebuild(ctx context.Context, p *part, from, to int64) (int, error) {
	count := 0
	var run []*kafkalog.Record
	err := kafkalog.ReadRange(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions, p.n, from, to, func(rec *kafkalog.Record) error {
		count++
		run = append(run, rec)
		if len(run) < maxRun {
			return nil
		}
		err := s.processRun(ctx, p, run, false)
		run = run[:0]
		return err
	})
	if err == nil {
		err = s.processRun(ctx, p, run, false)
	}
	return count, err
}

func (s *Service) revoke(parts []int) {
	s.mu.Lock()
	var gone []*part
	for _, n := range parts {
		if p := s.parts[n]; p != nil {
			gone = append(gone, p)
		}
		delete(s.parts, n)
	}
	s.mu.Unlock()
	for _, p := range gone {
		p.stopWorker()
	}
	for _, n := range parts {
		s.q.forget(n)
	}
	s.updateGauges()
}

func (s *Service) owned() []*part {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*part, 0, len(s.parts))
	for _, p := range s.parts {
		out = append(out, p)
	}
	return out
}

// commitLoop commits applied offsets every CommitInterval: ops are applied
// one by one, offsets committed in batches.
func (s *Service) commitLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.CommitInterval)
	defer t.Stop()
	var lagAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.commitAll(ctx)
			if time.Since(lagAt) >= time.Second {
				lagAt = time.Now()
				s.measureLag(ctx)
			}
		}
	}
}

func (s *Service) commitAll(ctx context.Context) {
	for _, p := range s.owned() {
		s.commitPart(ctx, p)
	}
}

// commitPart commits p's applied offset if it moved. Only the commit loop
// and, after it stopped, the shutdown call it, so p.done needs no lock.
func (s *Service) commitPart(ctx context.Context, p *part) {
	if s.group == nil {
		return
	}
	next := p.next.Load()
	if next <= p.done {
		return
	}
	if err := s.group.Commit(ctx, p.n, next); err != nil {
		if !errors.Is(err, kafkalog.ErrNotAssigned) && ctx.Err() == nil {
			s.log.Warn("commit failed; will retry", "partition", p.n, "err", err)
		}
		return
	}
	p.done = next
}

// measureLag sets the records-behind gauge of each owned partition.
func (s *Service) measureLag(ctx context.Context) {
	parts := s.owned()
	if len(parts) == 0 {
		return
	}
	bs, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions)
	if err != nil {
		return // the group logs Kafka outages already
	}
	for _, p := range parts {
		if b, ok := bs[p.n]; ok {
			next := p.next.Load()
			if next < b.First {
				next = b.First // nothing committed yet: the group starts at the first
			}
			s.met.lagRecords.WithLabelValues(itoa(p.n)).Set(float64(max(0, b.Next-next)))
		}
	}
}
