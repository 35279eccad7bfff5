package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupHandler receives a Group's assignment and records. Calls for one
// generation happen in the order Assigned, Handle..., Revoked; Handle is
// called concurrently for different partitions, in offset order within one.
type GroupHandler interface {
	// Assigned is called when a generation starts, with the partitions now
	// owned and their committed next offset (-1 if none). Consumption of a
	// partition starts at the committed offset, or at the first retained
	// offset when none. An error ends the generation and the Group rejoins
	// after a back-off.
	Assigned(ctx context.Context, partitions map[int]int64) error
	// Handle is called for each record, with a context that ends with the
	// generation. An error ends the generation; records after the last
	// commit are delivered again in the next one.
	Handle(ctx context.Context, rec *Record) error
	// Revoked is called when the generation ends, after the last Handle of
	// those partitions has returned. It may Commit final offsets; once it
	// returns, Commit fails with ErrNotAssigned for these partitions.
	Revoked(partitions []int)
}

// GroupOptions configure a Group.
type GroupOptions struct {
	Cluster Cluster
	GroupID string
	Topic   string
	// SessionTimeout is how long the coordinator waits for a silent member
	// before giving its partitions to others; default 10s (heartbeats every
	// tenth of it).
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// ErrNotAssigned is returned (wrapped) by Commit for a partition the
// current generation does not own: a rebalance took it away, or the
// generation ended.
var ErrNotAssigned = errors.New("partition not assigned")

// Group is a consumer group member over one topic, with explicit assignment
// callbacks and explicit commits (nothing is committed automatically). It
// is built on kafka-go's ConsumerGroup generations, so the assignment and
// its committed offsets are visible before the first record is handled.
// Partitions added to the topic are picked up at the next rebalance (a
// member joining or leaving), not watched for: kafka-go's watcher ends
// every generation at once while the topic is missing.
type Group struct {
	opt GroupOptions
	h   GroupHandler
	log *slog.Logger
	t   *kafka.Transport
	c   *kafka.Client

	mu     sync.Mutex // guards gen, owned and rejoin
	gen    *kafka.Generation
	owned  map[int]bool
	rejoin chan struct{} // closed by Rejoin to end the generation
}

// NewGroup returns a Group; it does nothing until Run.
func NewGroup(opt GroupOptions, h GroupHandler) *Group {
	if opt.SessionTimeout <= 0 {
		opt.SessionTimeout = 10 * time.Second
	}
	t := newTransport(opt.Cluster, opt.Topic)
	return &Group{
		opt: opt, h: h, t: t, c: newClient(opt.Cluster, t),
		log: loggerOr(opt.Logger).With("group", opt.GroupID, "topic", opt.Topic),
	}
}

// Run joins the group and consumes until ctx ends, rejoining after
// rebalances and broker outages with back-off. It returns ctx's error, or
// at once an error for options kafka-go rejects. Call it once.
func (g *Group) Run(ctx context.Context) error {
	defer closeTransport(g.t)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                g.opt.GroupID,
		Brokers:           g.opt.Cluster.Brokers,
		Dialer:            g.opt.Cluster.dialer(),
		Topics:            []string{g.opt.Topic},
		HeartbeatInterval: g.opt.SessionTimeout / 10,
		SessionTimeout:    g.opt.SessionTimeout,
		RebalanceTimeout:  g.opt.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		// A partition without a committed offset gets this marker; Assigned
		// reports it as -1 and consumption starts at the first offset.
		StartOffset: kafka.FirstOffset,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			g.log.Debug("kafka group", "detail", fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return fmt.Errorf("group %s: %w", g.opt.GroupID, err)
	}
	defer cg.Close()
	var run streak
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// kafka-go backs off and rejoins by itself.
			const msg = "consumer group cannot join; retrying"
			if run.fail(g.log, msg, "err", err) {
				g.log.Warn(msg, "err", err, "for", time.Since(run.since).Round(time.Millisecond))
			}
			continue
		}
		if run.ok() {
			g.log.Info("consumer group joined again")
		}
		g.startGeneration(ctx, gen)
	}
}

// startGeneration runs one generation: Assigned, one fetch loop per
// partition, and a watcher that calls Revoked once all loops returned. Any
// of them returning ends the generation (kafka-go's rule), which is how a
// handler error forces a rejoin.
func (g *Group) startGeneration(runCtx context.Context, gen *kafka.Generation) {
	assigned := map[int]int64{}
	for _, pa := range gen.Assignments[g.opt.Topic] {
		off := pa.Offset
		if off < 0 {
			off = -1
		}
		assigned[pa.ID] = off
	}
	ids := slices.Sorted(maps.Keys(assigned))
	g.log.Info("partitions assigned", "generation", gen.ID, "partitions", ids)

	// Before Assigned: a Rejoin from it, or right after it, ends this
	// generation rather than finding none to end.
	rejoin := make(chan struct{})
	g.mu.Lock()
	g.rejoin = rejoin
	g.mu.Unlock()
	if err := g.h.Assigned(runCtx, maps.Clone(assigned)); err != nil {
		g.mu.Lock()
		if g.rejoin == rejoin {
			g.rejoin = nil
		}
		g.mu.Unlock()
		g.log.Warn("assignment handler failed; rejoining", "err", err)
		gen.Start(func(ctx context.Context) {
			// Do not spin through generations while the handler fails.
			sleep(ctx, time.Second)
		})
		g.h.Revoked(ids)
		return
	}

	owned := make(map[int]bool, len(ids))
	for _, p := range ids {
		owned[p] = true
	}
	g.mu.Lock()
	g.gen, g.owned = gen, owned
	g.mu.Unlock()
	gen.Start(func(ctx context.Context) {
		// Returning ends the generation (kafka-go's rule).
		select {
		case <-ctx.Done():
		case <-rejoin:
		}
	})

	var wg sync.WaitGroup
	wg.Add(len(ids))
	for _, p := range ids {
		gen.Start(func(ctx context.Context) {
			defer wg.Done()
			g.consume(ctx, p, assigned[p])
		})
	}
	gen.Start(func(ctx context.Context) {
		<-ctx.Done()
		wg.Wait()
		// Revoked runs while the generation still counts as ours, so
		// the handler can commit its final offsets there (the
		// coordinator accepts them while a rebalance is prepared).
		g.log.Info("partitions revoked", "generation", gen.ID, "partitions", ids)
		g.h.Revoked(ids)
		g.mu.Lock()
		if g.gen == gen {
			g.gen, g.owned, g.rejoin = nil, nil, nil
		}
		g.mu.Unlock()
	})
}

// consume is the fetch loop of one assigned partition; it returns when the
// generation ends or the handler fails.
func (g *Group) consume(ctx context.Context, p int, pos int64) {
	if pos < 0 {
		pos = kafka.FirstOffset
	}
	var b backoff
	var run streak
	for ctx.Err() == nil {
		res, err := fetchOnce(ctx, g.c, g.opt.Topic, p, pos, 100*time.Millisecond)
		if err == nil {
			b.reset()
			run.ok()
			for _, r := range res.recs {
				if err := g.h.Handle(ctx, r); err != nil {
					if ctx.Err() == nil {
						g.log.Warn("record handler failed; rejoining", "partition", p, "offset", r.Offset, "err", err)
					}
					return
				}
			}
			if res.next > pos {
				pos = res.next
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			if bs, berr := bounds(ctx, g.opt.Cluster, g.t, g.opt.Topic, []int{p}); berr == nil && pos < bs[p].First {
				g.log.Warn("committed offset deleted by retention; skipping", "partition", p, "from", pos, "to", bs[p].First)
				pos = bs[p].First
				continue
			}
		}
		const msg = "group fetch failing; retrying with back-off"
		if run.fail(g.log, msg, "partition", p, "err", err) {
			g.log.Warn(msg, "partition", p, "err", err, "for", time.Since(run.since).Round(time.Millisecond))
		}
		if !sleep(ctx, b.next()) {
			return
		}
	}
}

// Rejoin ends the current generation, as a failing Handle does, so that
// the group rejoins and calls Assigned again: for a handler that finds it
// can no longer process a partition when no record may come to say so.
func (g *Group) Rejoin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rejoin != nil {
		close(g.rejoin)
		g.rejoin = nil
	}
}

// Commit records next as the committed offset of partition (the next
// offset to consume), synchronously. It fails with an error wrapping
// ErrNotAssigned when the current generation does not own the partition.
func (g *Group) Commit(ctx context.Context, partition int, next int64) error {
	g.mu.Lock()
	gen, ok := g.gen, g.owned[partition]
	g.mu.Unlock()
	if gen == nil || !ok {
		return fmt.Errorf("commit %s/%d: %w", g.opt.Topic, partition, ErrNotAssigned)
	}
	done := make(chan error, 1)
	go func() {
		done <- gen.CommitOffsets(map[string]map[int]int64{g.opt.Topic: {partition: next}})
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("commit %s/%d: %w", g.opt.Topic, partition, ctx.Err())
	case err := <-done:
		if err == nil {
			return nil
		}
		if errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.UnknownMemberId) {
			return fmt.Errorf("commit %s/%d: %w: %w", g.opt.Topic, partition, ErrNotAssigned, err)
		}
		return fmt.Errorf("commit %s/%d: %w", g.opt.Topic, partition, classify(err))
	}
}
