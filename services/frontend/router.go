package frontend

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// router delivers records of the messages topic to the locally connected
// sessions whose subscriptions match, in log order per partition.
//
// Locking: mu guards the index and the dispatch positions together, so a
// session that attaches (inserts its subscriptions and reads the positions
// under mu) receives exactly the records at or after the positions it read;
// replay covers the ones before. offer must not block (it only queues).
type router struct {
	mu  sync.Mutex
	idx *topic.Index[*conn, session.Subscription]
	pos map[int]int64 // next offset to dispatch per partition
	// recent holds per partition the records dispatched within the last
	// lookback, for joinRecent.
	recent map[int]*recentRecords
	// now is the clock of dispatch and joins (tests replace it).
	now func() int64
	// delay, when set, observes each dispatched record's age.
	delay prometheus.Observer

	// Scratch of dispatch, reused under mu: the sessions matching the
	// record being dispatched, and past a few of them an index into it.
	found   []connMatch
	foundAt map[*conn]int
}

// connMatch is one session's aggregated match for the record dispatched.
type connMatch struct {
	c *conn
	m match
}

// linearFound bounds the matching sessions looked up by a scan of found;
// beyond it (a fan-out) foundAt indexes them.
const linearFound = 8

func newRouter() *router {
	return &router{idx: topic.NewIndex[*conn, session.Subscription](), pos: make(map[int]int64),
		recent: make(map[int]*recentRecords), now: monotonicNow}
}

// monotonicNow is nanoseconds on the monotonic clock.
func monotonicNow() int64 { return int64(time.Since(processStart)) }

var processStart = time.Now()

// setStart records the follower's resolved start positions for partitions
// that have not dispatched anything yet.
func (r *router) setStart(pos map[int]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, o := range pos {
		if _, ok := r.pos[p]; !ok {
			r.pos[p] = o
		}
	}
}

// match aggregates the matching subscriptions of one session for one
// message: one delivery at the highest granted QoS with every matching
// subscription identifier [MQTT-3.3.4-2, MQTT-3.3.4-3].
type match struct {
	qos    byte
	rap    bool
	subIDs []uint32
	ok     bool
}

// add folds one matching subscription in, unless No Local excludes it.
func (m *match) add(msg *message, self string, s session.Subscription) {
	if s.NoLocal && msg.client == self {
		return // [MQTT-3.8.3-3]
	}
	q := min(msg.qos, s.QoS)
	if !m.ok || q > m.qos {
		m.qos = q
	}
	m.ok = true
	m.rap = m.rap || s.RetainAsPublished
	if s.SubID != 0 {
		m.subIDs = append(m.subIDs, s.SubID)
	}
}

// dispatch is the messages follower's handler (one goroutine per partition).
func (r *router) dispatch(rec *kafkalog.Record) {
	if r.delay != nil && !rec.Time.IsZero() {
		r.delay.Observe(time.Since(rec.Time).Seconds()) // outside the lock every session shares
	}
	var msg *message
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idx.Len() > 0 {
		name := string(rec.Key)
		r.found = r.found[:0]
		indexed := false
		r.idx.Match(name, func(c *conn, _ string, s session.Subscription) {
			if msg == nil {
				msg = decodeMessage(rec)
			}
			r.matchOf(c, &indexed).add(msg, c.clientID, s)
		})
		span := startProcessSpan(rec, msg)
		for i := range r.found {
			f := &r.found[i]
			if f.m.ok {
				// The ACL is asked when the delivery is written, not here
				// under the router's lock.
				f.c.offer(&delivery{msg: msg, qos: f.m.qos, retain: f.m.rap && msg.retain, subIDs: f.m.subIDs})
			}
			*f = connMatch{} // let the scratch hold no session
		}
		if indexed {
			clear(r.foundAt)
		}
		if span != nil {
			span.End()
		}
	}
	r.pos[rec.Partition] = rec.Offset + 1
	r.remember(rec)
}

// matchOf returns the aggregate of c in found, adding it when new. Called
// with mu held.
func (r *router) matchOf(c *conn, indexed *bool) *match {
	if !*indexed {
		for i := range r.found {
			if r.found[i].c == c {
				return &r.found[i].m
			}
		}
		if len(r.found) < linearFound {
			r.found = append(r.found, connMatch{c: c})
			return &r.found[len(r.found)-1].m
		}
		if r.foundAt == nil {
			r.foundAt = make(map[*conn]int)
		}
		for i := range r.found {
			r.foundAt[r.found[i].c] = i
		}
		*indexed = true
	}
	if i, ok := r.foundAt[c]; ok {
		return &r.found[i].m
	}
	r.found = append(r.found, connMatch{c: c})
	r.foundAt[c] = len(r.found) - 1
	return &r.found[len(r.found)-1].m
}

// remember keeps rec among the partition's recent records. Called with mu
// held.
func (r *router) remember(rec *kafkalog.Record) {
	rr := r.recent[rec.Partition]
	if rr == nil {
		rr = &recentRecords{}
		r.recent[rec.Partition] = rr
	}
	rr.add(rec, r.now())
}

// joinRecent inserts subs, new plain subscriptions of c read from a
// SUBSCRIBE just now, and first offers c the recent records they match
// that c was not offered: those dispatched within the last lookback and
// since c's subscriptions last changed, that none of its other
// subscriptions matched. It returns the positions from which c is covered
// (lowered to the first record offered this way).
//
// Why: the SUBSCRIBE was read some time after it arrived. A message
// published by another client right after it, through another frontend
// or Kafka's quick round trip, can reach this router first when this
// process was kept off the CPU meanwhile (the socket and the fetch become
// readable in the same wake-up, in either order). Counting the
// subscription from a little before the read delivers such a message;
// MQTT orders nothing between different clients, so a message from just
// before the SUBSCRIBE may be delivered too. Retained records are left to
// the retained messages the SUBACK brings.
func (r *router) joinRecent(c *conn, subs []session.Subscription) map[int]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	since := max(now-int64(lookback), c.routerSince)
	var first map[int]int64
	for p, rr := range r.recent {
		rr.since(since, func(rec *kafkalog.Record) {
			name := string(rec.Key)
			var matched []session.Subscription
			for _, s := range subs {
				if topic.Match(s.Filter, name) {
					matched = append(matched, s)
				}
			}
			// Most recent records match none of the new filters: decode
			// only those that do, as this runs under the router's lock.
			if len(matched) == 0 {
				return
			}
			msg := decodeMessage(rec)
			if msg.retain {
				return
			}
			var m match
			for _, s := range matched {
				m.add(msg, c.clientID, s)
			}
			if !m.ok {
				return
			}
			offered := false
			r.idx.Match(name, func(k *conn, _ string, _ session.Subscription) { offered = offered || k == c })
			if offered {
				return
			}
			c.offer(&delivery{msg: msg, qos: m.qos, retain: m.rap && msg.retain, subIDs: m.subIDs})
			if first == nil {
				first = make(map[int]int64)
			}
			if _, ok := first[p]; !ok {
				first[p] = rec.Offset
			}
		})
	}
	for _, s := range subs {
		r.idx.Subscribe(c, s.Filter, s)
	}
	c.routerSince = now
	from := r.snapshot()
	for p, o := range first {
		from[p] = o
	}
	return from
}

// lookback is how far back joinRecent looks: beyond the time a loaded
// machine keeps a process from running, short enough that what it brings
// is still news.
const lookback = 100 * time.Millisecond

// recentRecords is a partition's records dispatched within lookback, at
// most recentMax of them and recentBytes of payload: under heavy traffic
// the window is shorter.
type recentRecords struct {
	recs  []recentRecord
	head  int // recs[head:] are kept
	bytes int
}

type recentRecord struct {
	at  int64
	rec *kafkalog.Record
}

const (
	recentMax   = 1024
	recentBytes = 256 << 10
)

// add keeps rec, dispatched at now, and lets go of what is too old or
// beyond the bounds.
func (rr *recentRecords) add(rec *kafkalog.Record, now int64) {
	rr.recs = append(rr.recs, recentRecord{at: now, rec: rec})
	rr.bytes += len(rec.Value)
	for rr.head < len(rr.recs) {
		e := rr.recs[rr.head]
		if len(rr.recs)-rr.head <= 1 || (now-e.at < int64(lookback) && len(rr.recs)-rr.head <= recentMax && rr.bytes <= recentBytes) {
			break
		}
		rr.bytes -= len(e.rec.Value)
		rr.recs[rr.head] = recentRecord{}
		rr.head++
	}
	// Compact once the dropped half dominates, so the slice stays bounded.
	if rr.head > len(rr.recs)/2 && rr.head >= 64 {
		n := copy(rr.recs, rr.recs[rr.head:])
		clear(rr.recs[n:])
		rr.recs = rr.recs[:n]
		rr.head = 0
	}
}

// since calls fn for the records kept that were dispatched at or after t,
// in log order.
func (rr *recentRecords) since(t int64, fn func(*kafkalog.Record)) {
	for _, e := range rr.recs[rr.head:] {
		if e.at >= t {
			fn(e.rec)
		}
	}
}

// attach inserts subs for c and returns the positions from which live
// dispatch covers them (sw in docs/design.md): every record at or after
// them is matched against subs.
func (r *router) attach(c *conn, subs []session.Subscription) map[int]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		r.idx.Subscribe(c, s.Filter, s)
	}
	c.routerSince = r.now()
	return r.snapshot()
}

func (r *router) subscribe(c *conn, s session.Subscription) {
	r.mu.Lock()
	r.idx.Subscribe(c, s.Filter, s)
	c.routerSince = r.now()
	r.mu.Unlock()
}

func (r *router) unsubscribe(c *conn, filter string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.routerSince = r.now()
	return r.idx.Unsubscribe(c, filter)
}

// remove takes c out of live dispatch and returns the positions up to
// which c was offered every matching record.
func (r *router) remove(c *conn) map[int]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.idx.Remove(c)
	return r.snapshot()
}

// positions returns a copy of the dispatch positions: every record below
// them has been offered to every matching session.
func (r *router) positions() map[int]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot()
}

// snapshot copies the dispatch positions; called with mu held.
func (r *router) snapshot() map[int]int64 {
	out := make(map[int]int64, len(r.pos))
	for p, o := range r.pos {
		out[p] = o
	}
	return out
}
