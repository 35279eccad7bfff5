package kafkalog

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// StartAt says where a Follower starts in a partition that has no explicit
// start offset.
type StartAt int

const (
	// Latest starts at the partition's next offset: only new records.
	Latest StartAt = iota
	// Earliest starts at the first retained offset.
	Earliest
)

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	Topic string
	// Start gives explicit start offsets per partition; partitions not in
	// the map start at Default.
	Start   map[int]int64
	Default StartAt
	// MaxWait bounds how long one fetch waits for new data; default 50ms.
	// It is also the worst-case added latency after a quiet period.
	MaxWait time.Duration
	// OnGap, when set, is called when the Follower had to skip offsets
	// [from, to) because retention deleted them (a start offset below the
	// first retained offset, or a Follower that fell behind retention).
	// Delivery resumes at to.
	OnGap func(partition int, from, to int64)
	// Logger receives broker errors (warn once per outage, info on
	// recovery); default slog.Default().
	Logger *slog.Logger
	// Idle and Pass let a handler that needs no records for a while skip
	// them unread: while Idle reports true, a partition's loop reads the
	// partition's end instead of its records (every MaxWait) and calls
	// Pass(partition, from, to); when Pass agrees (it records the new
	// position itself, atomically with whatever decides that nothing is
	// needed), the records [from, to) are never handled and the loop
	// continues at to. When Pass refuses, the records are fetched as
	// usual. Idle is asked before every fetch: it must be cheap.
	Idle func() bool
	Pass func(partition int, from, to int64) bool
}

// Follower reads every partition of one topic, one goroutine per partition,
// and calls handle for each record in offset order per partition. handle is
// called concurrently for different partitions and must not keep the
// record's slices for later mutation by others. Partitions added to the
// topic after Run started are not followed.
type Follower struct {
	cluster Cluster
	c       *kafka.Client
	t       *kafka.Transport
	opt     FollowerOptions
	handle  func(*Record)
	log     *slog.Logger
	ready   chan struct{}

	mu  sync.Mutex
	pos map[int]int64
	hwm map[int]int64 // high watermark of the last fetch, per partition

	// failing counts partitions in a loud error streak, so an outage that
	// hits every partition logs one warning, not one per partition.
	failing atomic.Int32
}

// NewFollower returns a Follower; it does nothing until Run.
func NewFollower(c Cluster, opt FollowerOptions, handle func(*Record)) *Follower {
	if opt.MaxWait <= 0 {
		opt.MaxWait = 50 * time.Millisecond
	}
	t := newTransport(c, opt.Topic)
	return &Follower{
		cluster: c, c: newClient(c, t), t: t, opt: opt, handle: handle,
		log:   loggerOr(opt.Logger).With("topic", opt.Topic),
		ready: make(chan struct{}),
		pos:   map[int]int64{},
		hwm:   map[int]int64{},
	}
}

// Run follows the topic until ctx ends, retrying with back-off on broker
// errors, and returns ctx's error. Call it once.
func (f *Follower) Run(ctx context.Context) error {
	defer closeTransport(f.t)
	start, err := f.resolve(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.pos = maps.Clone(start)
	f.mu.Unlock()
	close(f.ready)

	var wg sync.WaitGroup
	for p, off := range start {
		wg.Go(func() { f.follow(ctx, p, off) })
	}
	wg.Wait()
	return ctx.Err()
}

// resolve turns the start options into concrete offsets, retrying until
// the topic's metadata and offsets can be read.
func (f *Follower) resolve(ctx context.Context) (map[int]int64, error) {
	var b backoff
	var run streak
	for {
		start, err := f.resolveOnce(ctx)
		if err == nil {
			if run.ok() {
				f.log.Info("kafka reachable again")
			}
			return start, nil
		}
		const msg = "follower cannot resolve start offsets; retrying"
		if run.fail(f.log, msg, "err", err) {
			f.log.Warn(msg, "err", err, "for", time.Since(run.since).Round(time.Millisecond))
		}
		if !sleep(ctx, b.next()) {
			return nil, ctx.Err()
		}
	}
}

func (f *Follower) resolveOnce(ctx context.Context) (map[int]int64, error) {
	ids, err := partitions(ctx, f.cluster, f.t, f.opt.Topic)
	if err != nil {
		return nil, err
	}
	bs, err := bounds(ctx, f.cluster, f.t, f.opt.Topic, ids)
	if err != nil {
		return nil, err
	}
	start := make(map[int]int64, len(ids))
	for _, p := range ids {
		bd := bs[p]
		off, ok := f.opt.Start[p]
		switch {
		case !ok && f.opt.Default == Earliest:
			off = bd.First
		case !ok:
			off = bd.Next
		case off < bd.First:
			f.gap(p, off, bd.First)
			off = bd.First
		case off > bd.Next:
			// Beyond the end: the log lost records we had seen (an
			// unclean restart). Continue from the end, loudly.
			f.log.Warn("start offset beyond end of partition; starting at end", "partition", p, "start", off, "next", bd.Next)
			off = bd.Next
		}
		start[p] = off
	}
	return start, nil
}

func (f *Follower) gap(p int, from, to int64) {
	f.log.Warn("records deleted by retention skipped", "partition", p, "from", from, "to", to)
	if f.opt.OnGap != nil {
		f.opt.OnGap(p, from, to)
	}
}

// follow is the fetch loop of one partition.
func (f *Follower) follow(ctx context.Context, p int, pos int64) {
	var b backoff
	var run streak
	for ctx.Err() == nil {
		var err error
		if f.opt.Idle != nil && f.opt.Idle() {
			var next int64
			var wait bool
			if next, wait, err = f.pass(ctx, p, pos); err == nil {
				f.recovered(&run, &b)
				pos = next
				if wait && !sleep(ctx, f.opt.MaxWait) {
					break
				}
				continue
			}
		} else {
			var res fetchResult
			if res, err = fetchOnce(ctx, f.c, f.opt.Topic, p, pos, f.opt.MaxWait); err == nil {
				f.recovered(&run, &b)
				// The high watermark first, so Lag shows the backlog while
				// a slow handler works through the batch.
				f.mu.Lock()
				f.hwm[p] = res.highWatermark
				f.mu.Unlock()
				for _, r := range res.recs {
					f.handle(r)
				}
				if res.next > pos {
					pos = res.next
					f.mu.Lock()
					f.pos[p] = pos
					f.mu.Unlock()
				}
				continue
			}
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			if np, ok := f.reposition(ctx, p, pos); ok {
				pos = np
				continue
			}
		}
		const msg = "follower fetch failing; retrying with back-off"
		if run.fail(f.log, msg, "partition", p, "err", err) && f.failing.Add(1) == 1 {
			f.log.Warn(msg, "partition", p, "err", err, "for", time.Since(run.since).Round(time.Millisecond))
		}
		if !sleep(ctx, b.next()) {
			break
		}
	}
	if run.ok() {
		f.failing.Add(-1)
	}
}

// recovered ends a partition's error streak after a successful request.
func (f *Follower) recovered(run *streak, b *backoff) {
	if run.ok() && f.failing.Add(-1) == 0 {
		f.log.Info("kafka reachable again")
	}
	b.reset()
}

// pass reads the end of partition p and, if Pass agrees, moves the
// position there without handling the records before it. It returns the
// position to continue at and whether to wait before the next look (there
// was nothing to pass, or it was passed; not when Pass refused, so the
// records are fetched at once).
func (f *Follower) pass(ctx context.Context, p int, pos int64) (next int64, wait bool, err error) {
	bs, err := bounds(ctx, f.cluster, f.t, f.opt.Topic, []int{p})
	if err != nil {
		return pos, false, err
	}
	end := bs[p].Next
	f.mu.Lock()
	f.hwm[p] = end
	f.mu.Unlock()
	if end <= pos {
		return pos, true, nil
	}
	if !f.opt.Pass(p, pos, end) {
		return pos, false, nil
	}
	f.mu.Lock()
	f.pos[p] = end
	f.mu.Unlock()
	return end, true, nil
}

// reposition handles an out-of-range fetch: below the log start means
// retention overtook us (a gap); beyond the end means the log was
// truncated, and we continue at its end.
func (f *Follower) reposition(ctx context.Context, p int, pos int64) (int64, bool) {
	bs, err := bounds(ctx, f.cluster, f.t, f.opt.Topic, []int{p})
	if err != nil {
		return pos, false
	}
	bd := bs[p]
	switch {
	case pos < bd.First:
		f.gap(p, pos, bd.First)
		pos = bd.First
	case pos > bd.Next:
		f.log.Warn("position beyond end of partition; continuing at end", "partition", p, "pos", pos, "next", bd.Next)
		pos = bd.Next
	default:
		return pos, false
	}
	f.mu.Lock()
	f.pos[p] = pos
	f.mu.Unlock()
	return pos, true
}

// Ready is closed once every partition's start offset is resolved to a
// concrete offset, so Positions taken then are exact. It stays open if Run
// ends first (the topic never became readable), so wait on it together
// with the context given to Run.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Positions returns per partition the next offset the Follower will deliver
// (the resolved start offset until records arrive). Valid after Ready;
// before it, the map is empty.
func (f *Follower) Positions() map[int]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.pos)
}

// Lag returns the records of the topic the Follower has not handled yet,
// summed over partitions, as of each partition's last fetch (the high
// watermark that fetch reported minus the position). Zero before Ready.
func (f *Follower) Lag() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for p, h := range f.hwm {
		if d := h - f.pos[p]; d > 0 {
			n += d
		}
	}
	return n
}
