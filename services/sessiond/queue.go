package sessiond

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// catchUpWorkers bounds the concurrent range reads of sessions that are
// behind the follower.
const catchUpWorkers = 4

// queue fills the offline queues of the offline persistent sessions this
// instance owns. A Follower reads every messages partition from the end;
// each session, per partition, is either catching up (a range read from
// its qfrom to the follower's position) or synced (the follower's records
// are matched against it through a topic index). A session switches to
// synced only when its qfrom has reached the follower's position, under
// the same lock the follower matches with, so no record is evaluated twice
// or skipped.
//
// Lock order: q.mu, then offline.mu. Redis writes for a session happen
// under its offline.mu only, and a session that comes online is marked
// gone under that lock before its connect is applied, so no queue write
// lands after the session's owner changed.
type queue struct {
	s     *Service
	fol   *kafkalog.Follower
	ready func() bool
	// wake tells an idle catch-up worker that pending has work.
	wake chan struct{}

	mu   sync.Mutex
	pos  map[int]int64 // follower: next offset per messages partition
	sess map[string]*offline
	ix   *topic.Index[string, session.Subscription]
	// pending lists the sessions waiting for a catch-up, each once; the
	// catch-up workers take them in order. It holds every session
	// scheduled, however many, so none is forgotten while the workers are
	// busy (a Redis outage keeps each retrying its session).
	pending []*offline
}

// offline is one offline persistent session being queued for.
type offline struct {
	cid   string
	part  int // sessions partition
	epoch int64
	proto byte
	subs  []session.Subscription

	// guarded by queue.mu
	qfrom  map[int]int64 // next messages offset to evaluate per partition
	synced map[int]bool
	// scheduled: in queue.pending; running: a worker is catching it up;
	// again: scheduled while running, so it goes back to pending after.
	scheduled, running, again bool

	mu     sync.Mutex
	gone   bool  // left the offline set: write nothing more for it
	length int64 // queue length after the last write
}

func newQueue(s *Service) *queue {
	q := &queue{
		s: s, wake: make(chan struct{}, 1),
		pos: map[int]int64{}, sess: map[string]*offline{}, ix: topic.NewIndex[string, session.Subscription](),
	}
	q.fol = kafkalog.NewFollower(s.cfg.Kafka, kafkalog.FollowerOptions{
		Topic: s.cfg.Topics.Messages, Default: kafkalog.Latest, Logger: s.log,
		Idle: q.idle, Pass: q.pass,
	}, q.onRecord)
	q.ready = func() bool {
		select {
		case <-q.fol.Ready():
			return true
		default:
			return false
		}
	}
	return q
}

func (q *queue) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := q.fol.Run(ctx); err != nil && ctx.Err() == nil {
			q.s.log.Error("messages follower stopped", "err", err)
		}
	}()
	select {
	case <-ctx.Done():
		wg.Wait()
		return
	case <-q.fol.Ready():
	}
	q.mu.Lock()
	for p, o := range q.fol.Positions() {
		if _, ok := q.pos[p]; !ok {
			q.pos[p] = o
		}
	}
	q.mu.Unlock()
	for range catchUpWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				o := q.take()
				if o == nil {
					select {
					case <-ctx.Done():
					case <-q.wake:
					}
					continue
				}
				q.catchUp(ctx, o)
				q.done(o)
			}
		}()
	}
	wg.Wait()
}

// schedule asks for a catch-up of o. It never blocks: o waits in pending
// (once, however often it is scheduled) until a worker is free.
func (q *queue) schedule(o *offline) {
	q.mu.Lock()
	switch {
	case o.running:
		o.again = true
	case !o.scheduled:
		o.scheduled = true
		q.pending = append(q.pending, o)
	}
	q.mu.Unlock()
	q.signal()
}

// signal wakes one idle worker, if any is waiting.
func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take hands the next pending session to a worker, or nil.
func (q *queue) take() *offline {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return nil
	}
	o := q.pending[0]
	q.pending[0] = nil
	q.pending = q.pending[1:]
	o.scheduled, o.running = false, true
	if len(q.pending) > 0 {
		q.signal() // the next worker takes the rest
	}
	return o
}

// done ends a worker's catch-up of o; if o was scheduled meanwhile (a
// write failed after the pass had gone by), it is pending again.
func (q *queue) done(o *offline) {
	q.mu.Lock()
	o.running = false
	again := o.again
	o.again = false
	q.mu.Unlock()
	if again {
		q.schedule(o)
	}
}

// positions returns the follower's next offset per partition (empty before
// the follower is ready).
func (q *queue) positions() map[int]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[int]int64, len(q.pos))
	for p, o := range q.pos {
		out[p] = o
	}
	return out
}

// load adds the offline persistent sessions of a sessions partition and
// counts its sessions by state.
func (q *queue) load(ctx context.Context, n int) (online, offline int64, err error) {
	cids, err := q.s.w.Clients(ctx, n)
	if err != nil {
		return 0, 0, err
	}
	states, err := q.add(ctx, n, cids)
	if err != nil {
		return 0, 0, err
	}
	for _, state := range states {
		switch state {
		case stateOnline:
			online++
		case stateOffline:
			offline++
		}
	}
	return online, offline, nil
}

// addChunk bounds the sessions add reads in one round trip.
const addChunk = 256

// add starts queueing for each of cids (of sessions partition n) whose
// session is offline, reading their subscriptions and qfrom from Redis,
// and returns the sessions' states.
func (q *queue) add(ctx context.Context, n int, cids []string) (map[string]string, error) {
	states := make(map[string]string, len(cids))
	for len(cids) > 0 {
		chunk := cids[:min(addChunk, len(cids))]
		cids = cids[len(chunk):]
		views, err := q.s.w.QueueViews(ctx, n, chunk)
		if err != nil {
			return nil, err
		}
		for _, cid := range chunk {
			states[cid] = q.addOne(cid, n, views[cid])
		}
	}
	return states, nil
}

// addOne is add for one session, from its view.
func (q *queue) addOne(cid string, n int, v session.QueueView) string {
	m := v.Meta
	if m == nil {
		return stateNone
	}
	if m.Online {
		return stateOnline
	}
	o := &offline{cid: cid, part: n, epoch: m.Epoch, proto: m.Proto, qfrom: v.QueueFrom, synced: map[int]bool{}, length: v.Queued}
	if o.qfrom == nil {
		o.qfrom = map[int]int64{}
	}
	for _, sub := range v.Subscriptions {
		if strings.HasPrefix(sub.Filter, topic.SharePrefix) {
			continue // shared subscriptions deliver to online members only
		}
		o.subs = append(o.subs, sub)
	}
	q.remove(cid)
	q.mu.Lock()
	q.sess[cid] = o
	for _, sub := range o.subs {
		q.ix.Subscribe(cid, sub.Filter, sub)
	}
	q.mu.Unlock()
	q.s.met.offline.Inc()
	q.s.met.queueLen.Add(float64(o.length))
	q.schedule(o)
	return stateOffline
}

// remove stops queueing for cid (it came online, expired or was deleted).
func (q *queue) remove(cid string) {
	q.mu.Lock()
	o := q.sess[cid]
	if o != nil {
		delete(q.sess, cid)
		q.ix.Remove(cid)
	}
	q.mu.Unlock()
	if o == nil {
		return
	}
	o.mu.Lock()
	o.gone = true
	q.s.met.queueLen.Sub(float64(o.length))
	o.mu.Unlock()
	q.s.met.offline.Dec()
}

// forget drops the sessions of a revoked sessions partition.
func (q *queue) forget(n int) {
	q.mu.Lock()
	var cids []string
	for cid, o := range q.sess {
		if o.part == n {
			cids = append(cids, cid)
		}
	}
	q.mu.Unlock()
	for _, cid := range cids {
		q.remove(cid)
	}
}

// idle reports whether no offline session of this instance subscribes to
// anything: then no record of the messages topic is wanted by the
// follower (catch-ups read their own ranges), and it passes over them
// instead of fetching and decoding every one.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ix.Len() == 0
}

// pass moves the follower's position in partition p over [from, to),
// unread, if still no offline session subscribes to anything. Under q.mu,
// as every switch to synced is: a session that syncs after this does so
// at to or later, and one that subscribed before it refuses the pass.
func (q *queue) pass(p int, from, to int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ix.Len() > 0 {
		return false
	}
	if to > q.pos[p] {
		q.pos[p] = to
	}
	q.s.met.passed.Add(float64(to - from))
	return true
}

// onRecord is the follower's handler for one messages record: it matches
// the record against the synced sessions and queues it for them.
func (q *queue) onRecord(r *kafkalog.Record) {
	name := string(r.Key)
	type hit struct {
		o   *offline
		sub []session.Subscription
	}
	var hits map[string]*hit
	q.mu.Lock()
	q.pos[r.Partition] = r.Offset + 1
	q.ix.Match(name, func(cid, _ string, sub session.Subscription) {
		o := q.sess[cid]
		if o == nil || !o.synced[r.Partition] || o.qfrom[r.Partition] > r.Offset {
			return
		}
		if hits == nil {
			hits = map[string]*hit{}
		}
		h := hits[cid]
		if h == nil {
			h = &hit{o: o}
			hits[cid] = h
		}
		h.sub = append(h.sub, sub)
	})
	for _, h := range hits {
		h.o.qfrom[r.Partition] = r.Offset + 1
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var failed []*offline
	var firstErr error
	for _, h := range hits {
		var ev evaluation
		span := startEnqueueSpan(r, h.o.cid)
		ev.eval(q.s, h.o, r, h.sub)
		err := q.commit(ctx, h.o, r.Partition, r.Offset+1, &ev)
		if span != nil {
			endSpan(span, err, attribute.Int("tidemark.queued", len(ev.refs)))
		}
		if err != nil {
			failed = append(failed, h.o)
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if len(failed) == 0 {
		return
	}
	// Fall back to a catch-up from this record: a later record queued
	// first would move qfrom past it. The workers retry until it is
	// written, however long the outage.
	q.s.log.Warn("offline queue writes failed; catching up", "partition", r.Partition, "offset", r.Offset,
		"clients", len(failed), "err", firstErr)
	q.mu.Lock()
	for _, o := range failed {
		o.synced[r.Partition] = false
		o.qfrom[r.Partition] = min(o.qfrom[r.Partition], r.Offset)
	}
	q.mu.Unlock()
	for _, o := range failed {
		q.schedule(o)
	}
}

// evaluation collects what one session gets from a run of records.
type evaluation struct {
	refs    []session.QueueRef
	expired []*kafkalog.Record
}

// eval decides what record r means for session o given its matching
// subscriptions: a queue ref, an expiry drop, or nothing.
func (ev *evaluation) eval(s *Service, o *offline, r *kafkalog.Record, subs []session.Subscription) {
	publisher := ""
	if v, ok := r.Header(kafkalog.HeaderClient); ok {
		publisher = string(v)
	}
	best := -1
	for _, sub := range subs {
		if sub.NoLocal && publisher == o.cid {
			continue
		}
		best = max(best, int(sub.QoS))
	}
	if best < 0 {
		return
	}
	pubQoS := 0
	if v, ok := r.Header(kafkalog.HeaderQoS); ok {
		pubQoS, _ = strconv.Atoi(string(v))
	}
	qos := min(best, pubQoS)
	if qos == 0 && !s.cfg.QueueQoS0 {
		return
	}
	if v, ok := r.Header(kafkalog.HeaderExpires); ok {
		if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil && ms <= time.Now().UnixMilli() {
			ev.expired = append(ev.expired, r)
			return
		}
	}
	ev.refs = append(ev.refs, session.QueueRef{Partition: r.Partition, Offset: r.Offset, QoS: byte(qos)})
}

// commit writes an evaluation for o: queue refs and qfrom[p] = next in one
// transaction, then the drop events. Nothing is written once o is gone.
// On error nothing was written: the caller must evaluate the records again
// before any later one, or a later qfrom would skip them.
func (q *queue) commit(ctx context.Context, o *offline, p int, next int64, ev *evaluation) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		return nil
	}
	dropped, length, err := q.s.w.Enqueue(ctx, o.part, o.cid, ev.refs, map[int]int64{p: next}, q.s.cfg.MaxQueued)
	if err != nil {
		return err
	}
	q.s.met.queued.Add(float64(len(ev.refs)))
	q.s.met.queueLen.Add(float64(length - o.length))
	o.length = length
	var envs []events.Envelope
	if len(dropped) > 0 {
		// One event per partition for a run of drops, as a range.
		byPart := map[int][]session.QueueRef{}
		for _, d := range dropped {
			byPart[d.Partition] = append(byPart[d.Partition], d)
		}
		for dp, refs := range byPart {
			from, to := refs[0].Offset, refs[len(refs)-1].Offset+1
			envs = append(envs, q.dropEvent(o, events.DropQueueFull, "", dp, from, to, int64(len(refs))))
		}
		q.s.met.drops.WithLabelValues(string(events.DropQueueFull)).Add(float64(len(dropped)))
	}
	for _, r := range ev.expired {
		envs = append(envs, q.dropEvent(o, events.DropExpired, string(r.Key), r.Partition, r.Offset, r.Offset+1, 1))
		q.s.met.drops.WithLabelValues(string(events.DropExpired)).Inc()
	}
	q.announce(ctx, envs)
	return nil
}

func (q *queue) announce(ctx context.Context, envs []events.Envelope) {
	if len(envs) == 0 {
		return
	}
	recs, err := records(q.s.cfg.Topics.Lifecycle, envs)
	if err == nil {
		err = q.s.app.Append(ctx, recs...)
	}
	if err != nil {
		q.s.log.Warn("drop events not announced", "err", err, "events", len(envs))
		return
	}
	for _, e := range envs {
		q.s.met.events.WithLabelValues(string(e.Type)).Inc()
	}
}

// dropEvent builds a message_dropped event; its id derives from the
// session, reason and range, so a repeated evaluation repeats the id.
func (q *queue) dropEvent(o *offline, reason events.DropReason, name string, p int, from, to, count int64) events.Envelope {
	id := events.DeterministicID(q.s.cfg.Topics.Messages+"/"+o.cid+"/"+string(reason), p, from, 0)
	return events.NewWithID(id, events.SessionMessageDropped, q.s.cfg.Node, o.cid, &events.MessageDropped{
		Session: events.Session{ClientID: o.cid, Node: q.s.cfg.Node, Epoch: o.epoch, Proto: int(o.proto)},
		Reason:  reason, Topic: name, Partition: p, From: from, To: to, Count: count,
	}, time.Now())
}

// catchUp brings o up to the follower on every partition, then marks it
// synced there.
func (q *queue) catchUp(ctx context.Context, o *offline) {
	var bounds map[int]kafkalog.Bounds
	if len(o.subs) > 0 { // without, nothing is owed: no gap either
		var err error
		bounds, err = kafkalog.TopicBounds(ctx, q.s.cfg.Kafka, q.s.cfg.Topics.Messages)
		if err != nil && ctx.Err() == nil {
			q.s.log.Warn("offline queue catch-up: read bounds", "err", err)
		}
	}
	for p := range q.positions() {
		for ctx.Err() == nil {
			q.mu.Lock()
			if q.sess[o.cid] != o {
				q.mu.Unlock()
				return
			}
			if o.synced[p] {
				// The follower evaluates this partition for o; a scan now
				// would move qfrom back behind what it queued.
				q.mu.Unlock()
				break
			}
			from, ok := o.qfrom[p]
			target := q.pos[p]
			if !ok {
				// No known position: nothing before the follower's is owed.
				from = target
				o.qfrom[p] = from
			}
			if from >= target {
				o.synced[p] = true
				q.mu.Unlock()
				break
			}
			q.mu.Unlock()
			var err error
			if bd, ok := bounds[p]; ok && from < bd.First {
				err = q.gap(ctx, o, p, from, bd.First)
			} else {
				err = q.scan(ctx, o, p, from, target)
			}
			if err != nil && ctx.Err() == nil {
				q.s.log.Warn("offline queue catch-up failed; retrying", "client", o.cid, "partition", p, "err", err)
				t := time.NewTimer(200 * time.Millisecond)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}
	}
}

// gap announces records lost to retention before they were evaluated.
func (q *queue) gap(ctx context.Context, o *offline, p int, from, to int64) error {
	if err := q.commit(ctx, o, p, to, &evaluation{}); err != nil {
		return err // the next pass finds the gap again
	}
	q.mu.Lock()
	if o.qfrom[p] < to {
		o.qfrom[p] = to
	}
	q.mu.Unlock()
	q.announce(ctx, []events.Envelope{q.dropEvent(o, events.DropRetentionGap, "", p, from, to, to-from)})
	q.s.met.drops.WithLabelValues(string(events.DropRetentionGap)).Add(float64(to - from))
	return nil
}

// scan evaluates [from, to) of partition p for o, committing in chunks.
// A record it queues gets its enqueue span as on the follower's path (a
// message published while the session was being registered is queued
// here), ended when its chunk is committed.
func (q *queue) scan(ctx context.Context, o *offline, p int, from, to int64) error {
	const chunk = 256
	var (
		ev    evaluation
		spans []trace.Span
	)
	next := from
	endSpans := func(err error) {
		for _, sp := range spans {
			endSpan(sp, err, attribute.Bool("tidemark.catch_up", true))
		}
		spans = nil
	}
	flush := func() error {
		err := q.commit(ctx, o, p, next, &ev)
		endSpans(err)
		if err != nil {
			return err // qfrom stays: the next pass reads this chunk again
		}
		q.mu.Lock()
		if o.qfrom[p] < next {
			o.qfrom[p] = next
		}
		q.mu.Unlock()
		ev = evaluation{}
		return nil
	}
	if len(o.subs) == 0 {
		// Nothing can match: the range is passed over without reading it
		// (a mass disconnect of clients without subscriptions costs no
		// scan of the log).
		next = to
		return flush()
	}
	err := kafkalog.ReadRange(ctx, q.s.cfg.Kafka, q.s.cfg.Topics.Messages, p, from, to, func(r *kafkalog.Record) error {
		var subs []session.Subscription
		name := string(r.Key)
		for _, sub := range o.subs {
			if topic.Match(sub.Filter, name) {
				subs = append(subs, sub)
			}
		}
		if len(subs) > 0 {
			if sp := startEnqueueSpan(r, o.cid); sp != nil {
				spans = append(spans, sp)
			}
		}
		ev.eval(q.s, o, r, subs)
		next = r.Offset + 1
		if len(ev.refs)+len(ev.expired) >= chunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		endSpans(err)
		return fmt.Errorf("scan %d [%d,%d): %w", p, from, to, err)
	}
	// ReadRange stops at the high watermark; everything below to was
	// read, or deleted (then the next pass reports the gap).
	if next < to {
		next = to
	}
	return flush()
}
