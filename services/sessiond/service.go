package sessiond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
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

	mu       sync.Mutex
	parts    map[int]*part // owned sessions partitions
	assigned atomic.Bool
	stopping atomic.Bool // set at shutdown: handle no more ops
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

	// handling is held while an op is processed, so the final commit at
	// shutdown waits for the op in flight and covers it.
	handling sync.Mutex

	mu       sync.Mutex
	expiring map[string]int64 // cid -> epoch of an expire op already appended
}

// New checks cfg and builds a Service; nothing runs until Run.
func New(cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "sessiond"), parts: map[int]*part{}}
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
	return s, nil
}

// Run consumes the sessions topic, follows the messages topic for offline
// queues and checks expiry until ctx ends. Errors of Kafka or Redis are
// retried (the group rejoins); Run returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.app = kafkalog.NewAppender(s.cfg.Kafka, kafkalog.AppenderOptions{Logger: s.log})
	defer s.app.Close()
	if s.ownRdb {
		defer s.rdb.Close()
	}
	s.group = kafkalog.NewGroup(kafkalog.GroupOptions{
		Brokers: s.cfg.Kafka, GroupID: s.cfg.GroupID, Topic: s.cfg.Topics.Sessions,
		SessionTimeout: s.cfg.SessionTimeout, Logger: s.log,
	}, handler{s})
	// The group runs on its own context so that, at shutdown, the final
	// commit happens while the generation still owns the partitions.
	gctx, gcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer gcancel()
	var wg, gwg sync.WaitGroup
	run := func(wg *sync.WaitGroup, ctx context.Context, f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(&wg, ctx, s.q.run)
	run(&wg, ctx, s.commitLoop)
	run(&wg, ctx, s.expiryLoop)
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
	for _, p := range s.owned() {
		p.handling.Lock() // waits for the op in flight, if any
		p.handling.Unlock()
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.commitAll(cctx)
	gcancel()
	gwg.Wait()
	return nil
}

// Ready reports whether the instance has joined the group (has an
// assignment, possibly empty) and follows the messages topic.
func (s *Service) Ready() bool { return s.assigned.Load() && s.q.ready() }

// handler adapts Service to kafkalog.GroupHandler without exporting the
// callbacks on Service.
type handler struct{ s *Service }

func (h handler) Assigned(ctx context.Context, parts map[int]int64) error {
	return h.s.assign(ctx, parts)
}
func (h handler) Handle(ctx context.Context, rec *kafkalog.Record) error { return h.s.handle(ctx, rec) }
func (h handler) Revoked(parts []int)                                    { h.s.revoke(parts) }

// assign takes over partitions: it brings Redis up to the committed offset
// when it is behind (a wiped or restored Redis: the rebuild of invariant
// 4), then loads the partitions' offline sessions for queueing and expiry.
func (s *Service) assign(ctx context.Context, committed map[int]int64) error {
	for n, next := range committed {
		applied, ok, err := s.w.Applied(ctx, n)
		if err != nil {
			return err
		}
		p := &part{n: n, applied: applied, expiring: map[string]int64{}}
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
		s.mu.Lock()
		s.parts[n] = p
		s.mu.Unlock()
	}
	s.updateGauges()
	s.assigned.Store(true)
	return nil
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
	err := kafkalog.ReadRange(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions, p.n, from, to, func(rec *kafkalog.Record) error {
		count++
		return s.process(ctx, p, rec, false)
	})
	return count, err
}

func (s *Service) revoke(parts []int) {
	s.mu.Lock()
	for _, n := range parts {
		delete(s.parts, n)
	}
	s.mu.Unlock()
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

func (s *Service) handle(ctx context.Context, rec *kafkalog.Record) error {
	s.mu.Lock()
	p := s.parts[rec.Partition]
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("handle %d/%d: %w", rec.Partition, rec.Offset, kafkalog.ErrNotAssigned)
	}
	p.handling.Lock()
	if s.stopping.Load() {
		// Returning would end the generation before the final commit;
		// hold the partition until the group is left instead.
		p.handling.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	err := s.process(ctx, p, rec, true)
	if err == nil {
		p.next.Store(rec.Offset + 1)
	}
	p.handling.Unlock()
	if err != nil {
		return err
	}
	s.met.lag.WithLabelValues(itoa(p.n)).Set(float64(time.Since(rec.Time).Seconds()))
	return nil
}

// process applies one op: decide, announce (when emit), apply. Ops at or
// below the partition's applied mark are already in Redis and skipped.
func (s *Service) process(ctx context.Context, p *part, rec *kafkalog.Record, emit bool) error {
	if rec.Offset <= p.applied {
		return nil
	}
	op, err := session.DecodeOp(rec)
	if err != nil {
		// A record that is not an op can never be applied: log it, count
		// it and move on rather than block the partition.
		s.log.Warn("undecodable session op skipped", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		s.met.ops.WithLabelValues("invalid", "skipped").Inc()
		return s.apply(ctx, p, rec.Offset, nil)
	}
	if op.TS == 0 {
		op.TS = rec.Time.UnixMilli()
	}
	var in input
	if op.Kind != session.OpRejected && op.Kind != session.OpDrop {
		if in.meta, err = s.w.Meta(ctx, op.ClientID); err != nil {
			return err
		}
	}
	if op.Kind == session.OpDisconnect && in.meta != nil && in.meta.Epoch == op.Epoch && in.meta.Online {
		st, err := s.w.Load(ctx, op.ClientID)
		if err != nil {
			return err
		}
		in.cursor, in.qfrom = st.Cursor, st.QueueFrom
	}
	b := &batch{topic: s.cfg.Topics.Sessions, partition: rec.Partition, offset: rec.Offset, at: time.UnixMilli(op.TS)}
	var follow map[int]int64
	if emit {
		follow = s.q.positions()
	}
	out := s.decide(b, op, in, follow)
	s.met.ops.WithLabelValues(op.Kind, out.result).Inc()
	if op.Kind == session.OpExpire {
		p.mu.Lock()
		delete(p.expiring, op.ClientID)
		p.mu.Unlock()
	}
	if out.leave {
		s.q.remove(op.ClientID)
	}
	if emit && len(b.envs) > 0 {
		recs, err := records(s.cfg.Topics.Lifecycle, b.envs)
		if err != nil {
			return err
		}
		if err := s.app.Append(ctx, recs...); err != nil {
			return fmt.Errorf("announce op %d/%d: %w", rec.Partition, rec.Offset, err)
		}
		for _, e := range b.envs {
			s.met.events.WithLabelValues(string(e.Type)).Inc()
		}
	}
	if err := s.apply(ctx, p, rec.Offset, out.tx); err != nil {
		return err
	}
	if emit {
		p.count(stateOf(in.meta), out.state)
		if out.state != "" {
			s.updateGauges()
		}
	}
	if out.offline && emit {
		if _, err := s.q.add(ctx, op.ClientID, p.n); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) apply(ctx context.Context, p *part, offset int64, fn func(*session.Tx)) error {
	if err := s.w.Apply(ctx, p.n, offset, fn); err != nil {
		return err
	}
	p.applied = offset
	return nil
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
	if s.group == nil {
		return
	}
	for _, p := range s.owned() {
		next := p.next.Load()
		if next <= p.done {
			continue
		}
		if err := s.group.Commit(ctx, p.n, next); err != nil {
			if !errors.Is(err, kafkalog.ErrNotAssigned) && ctx.Err() == nil {
				s.log.Warn("commit failed; will retry", "partition", p.n, "err", err)
			}
			continue
		}
		p.done = next
	}
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
