package frontend

import (
	"sync"

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
	return &router{idx: topic.NewIndex[*conn, session.Subscription](), pos: make(map[int]int64)}
}

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
			if f.m.ok && f.c.readable(name) {
				f.c.out.offer(&delivery{msg: msg, qos: f.m.qos, retain: f.m.rap && msg.retain, subIDs: f.m.subIDs})
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

// attach inserts subs for c and returns the positions from which live
// dispatch covers them (sw in docs/design.md): every record at or after
// them is matched against subs.
func (r *router) attach(c *conn, subs []session.Subscription) map[int]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		r.idx.Subscribe(c, s.Filter, s)
	}
	return r.snapshot()
}

func (r *router) subscribe(c *conn, s session.Subscription) {
	r.mu.Lock()
	r.idx.Subscribe(c, s.Filter, s)
	r.mu.Unlock()
}

func (r *router) unsubscribe(c *conn, filter string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
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
