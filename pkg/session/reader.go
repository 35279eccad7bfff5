package session

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrSuperseded is returned by WaitApplied when a newer connect (a higher
// epoch) owns the session: the waiting connection lost a takeover race and
// must close.
var ErrSuperseded = errors.New("session superseded by a newer connection")

// Reader is the frontends' read-only view of sessions.
type Reader struct {
	rdb   redis.UniversalClient
	keys  Keys
	watch *AppliedWatch
}

// NewReaderOptions returns a Reader with options (a key prefix).
func NewReaderOptions(rdb redis.UniversalClient, opt Options) *Reader {
	return &Reader{rdb: rdb, keys: Keys(opt)}
}

// Watch makes WaitApplied wait for w's announcements rather than poll
// on a tight schedule while w is live; r's owner runs w.
func (r *Reader) Watch(w *AppliedWatch) { r.watch = w }

// Poll back-off bounds for WaitApplied: the session service usually
// applies a connect within a few milliseconds, so start small. With a
// live AppliedWatch it polls every watchedPoll, in case an announcement
// was lost.
const (
	pollMin = time.Millisecond
	pollMax = 20 * time.Millisecond
)

var watchedPoll = 100 * time.Millisecond // a variable for tests

// WaitApplied waits until the session service has applied the connect at
// epoch (the connect op's offset) for clientID, whose ops are in sessions
// partition n, then loads the session in one transaction. It returns
// ErrSuperseded when a newer epoch owns the session, and ctx's error when
// ctx ends first (callers bound it).
//
// While a watch hears announcements, the session is read once one covers
// the epoch (a connect just logged is not applied yet: an earlier read
// would be wasted), or after watchedPoll in case one was lost; otherwise
// it is polled, from pollMin doubling to pollMax.
func (r *Reader) WaitApplied(ctx context.Context, n int, clientID string, epoch int64) (State, error) {
	key := r.keys.Session(n, clientID)
	wait := pollMin
	for {
		announced, covered := false, false
		if r.watch != nil {
			var ch <-chan struct{}
			if ch, covered = r.watch.await(n, epoch); ch != nil {
				announced = true
				if err := r.waitAnnounced(ctx, n, epoch, ch); err != nil {
					return State{}, fmt.Errorf("wait session applied: %w", err)
				}
				_, covered = r.watch.await(n, epoch)
			}
		}
		if covered {
			if st, done, err := r.loadApplied(ctx, n, clientID, epoch); done {
				return st, err
			}
		} else {
			vals, err := r.rdb.HMGet(ctx, key, "epoch", "applied").Result()
			if err != nil {
				return State{}, fmt.Errorf("poll session: %w", err)
			}
			e, okE := asInt(vals[0])
			a, okA := asInt(vals[1])
			if okE && e > epoch {
				return State{}, ErrSuperseded
			}
			if okE && okA && e == epoch && a >= epoch {
				if st, done, err := r.loadApplied(ctx, n, clientID, epoch); done {
					return st, err
				}
			}
			if announced {
				continue // it waited for an announcement already
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return State{}, fmt.Errorf("wait session applied: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, pollMax)
	}
}

// loadApplied loads the session once its connect at epoch is applied:
// done with the state when it is that connect's, with ErrSuperseded when
// a newer one's; not done when the session is gone (the connection already
// ended: waiting goes on until ctx ends, as for a missing session).
func (r *Reader) loadApplied(ctx context.Context, n int, clientID string, epoch int64) (State, bool, error) {
	st, err := r.Load(ctx, n, clientID)
	switch {
	case err != nil:
		return State{}, true, err
	case st.Epoch > epoch:
		return State{}, true, ErrSuperseded
	case st.Exists && st.Epoch == epoch && st.Meta.Applied >= epoch:
		return st, true, nil
	}
	return State{}, false, nil
}

// waitAnnounced waits until an announcement covers epoch, the watch stops
// being live, or watchedPoll passes; ch is closed at the partition's next
// announcement.
func (r *Reader) waitAnnounced(ctx context.Context, n int, epoch int64, ch <-chan struct{}) error {
	t := time.NewTimer(watchedPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-ch:
			next, covered := r.watch.await(n, epoch)
			if covered || next == nil {
				return nil
			}
			ch = next
		}
	}
}

func asInt(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Load reads the whole session of clientID (sessions partition n) in one
// MULTI/EXEC, so the parts are consistent with each other. A missing
// session gives a zero State.
func (r *Reader) Load(ctx context.Context, n int, clientID string) (State, error) {
	k := r.keys
	var (
		sess, subs, cur, infl, qfrom *redis.MapStringStringCmd
		q2in                         *redis.StringSliceCmd
		queue                        *redis.StringSliceCmd
	)
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		sess = p.HGetAll(ctx, k.Session(n, clientID))
		subs = p.HGetAll(ctx, k.Subs(n, clientID))
		cur = p.HGetAll(ctx, k.Cursor(n, clientID))
		infl = p.HGetAll(ctx, k.Inflight(n, clientID))
		q2in = p.SMembers(ctx, k.QoS2In(n, clientID))
		queue = p.LRange(ctx, k.Queue(n, clientID), 0, -1)
		qfrom = p.HGetAll(ctx, k.QueueFrom(n, clientID))
		return nil
	})
	if err != nil {
		return State{}, fmt.Errorf("load session: %w", err)
	}
	meta, err := parseMeta(sess.Val())
	if err != nil || meta == nil {
		return State{}, err
	}
	st := State{Exists: true, Present: meta.Present, Epoch: meta.Epoch, Meta: *meta}
	if st.Subscriptions, err = parseSubs(subs.Val()); err != nil {
		return State{}, err
	}
	if st.Cursor, err = parseOffsets(cur.Val()); err != nil {
		return State{}, err
	}
	if st.Inflight, err = parseInflight(infl.Val()); err != nil {
		return State{}, err
	}
	for _, s := range q2in.Val() {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return State{}, fmt.Errorf("parse q2in %q: %w", s, err)
		}
		st.QoS2In = append(st.QoS2In, uint16(n))
	}
	sort.Slice(st.QoS2In, func(i, j int) bool { return st.QoS2In[i] < st.QoS2In[j] })
	for _, s := range queue.Val() {
		ref, err := ParseQueueRef(s)
		if err != nil {
			return State{}, err
		}
		st.Queue = append(st.Queue, ref)
	}
	if st.QueueFrom, err = parseOffsets(qfrom.Val()); err != nil {
		return State{}, err
	}
	return st, nil
}

// Meta reads the session hash of cid (sessions partition n); nil when the
// session does not exist.
func (r *Reader) Meta(ctx context.Context, n int, cid string) (*Meta, error) {
	h, err := r.rdb.HGetAll(ctx, r.keys.Session(n, cid)).Result()
	if err != nil {
		return nil, fmt.Errorf("read session %q: %w", cid, err)
	}
	return parseMeta(h)
}

// Metas reads the session hashes of cids, all of sessions partition n, in
// one round trip; a ClientID without a session maps to nil.
func (r *Reader) Metas(ctx context.Context, n int, cids []string) (map[string]*Meta, error) {
	cmds := make([]*redis.MapStringStringCmd, len(cids))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, cid := range cids {
			cmds[i] = p.HGetAll(ctx, r.keys.Session(n, cid))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d sessions: %w", len(cids), err)
	}
	out := make(map[string]*Meta, len(cids))
	for i, cid := range cids {
		m, err := parseMeta(cmds[i].Val())
		if err != nil {
			return nil, fmt.Errorf("read session %q: %w", cid, err)
		}
		out[cid] = m
	}
	return out, nil
}

// QueueView is what the offline queue needs of a session: less than
// State, so that registering thousands of offline sessions (a session
// service taking over partitions, a mass disconnect) reads no queue
// contents, cursors or inflight entries.
type QueueView struct {
	Meta          *Meta // nil: no session
	Subscriptions []Subscription
	QueueFrom     map[int]int64
	Queued        int64 // length of the offline queue
}

// QueueViews reads the queue views of cids (all of sessions partition n)
// in one round trip.
func (r *Reader) QueueViews(ctx context.Context, n int, cids []string) (map[string]QueueView, error) {
	type cmds struct {
		sess, subs, qfrom *redis.MapStringStringCmd
		queued            *redis.IntCmd
	}
	all := make([]cmds, len(cids))
	k := r.keys
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, cid := range cids {
			all[i] = cmds{sess: p.HGetAll(ctx, k.Session(n, cid)), subs: p.HGetAll(ctx, k.Subs(n, cid)),
				qfrom: p.HGetAll(ctx, k.QueueFrom(n, cid)), queued: p.LLen(ctx, k.Queue(n, cid))}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d sessions: %w", len(cids), err)
	}
	out := make(map[string]QueueView, len(cids))
	for i, cid := range cids {
		var v QueueView
		if v.Meta, err = parseMeta(all[i].sess.Val()); err != nil {
			return nil, fmt.Errorf("read session %q: %w", cid, err)
		}
		if v.Subscriptions, err = parseSubs(all[i].subs.Val()); err != nil {
			return nil, fmt.Errorf("read session %q: %w", cid, err)
		}
		if v.QueueFrom, err = parseOffsets(all[i].qfrom.Val()); err != nil {
			return nil, fmt.Errorf("read session %q: %w", cid, err)
		}
		v.Queued = all[i].queued.Val()
		out[cid] = v
	}
	return out, nil
}

// Applied returns the offset of the last op applied from sessions partition
// n; ok is false when the view has no record of the partition (a new or
// wiped Redis), which calls for a rebuild.
func (r *Reader) Applied(ctx context.Context, n int) (offset int64, ok bool, err error) {
	v, err := r.rdb.Get(ctx, r.keys.Applied(n)).Int64()
	if errors.Is(err, redis.Nil) {
		return -1, false, nil
	}
	if err != nil {
		return -1, false, fmt.Errorf("read applied %d: %w", n, err)
	}
	return v, true, nil
}

// Page lists up to count ClientIDs of sessions partition n in byte order,
// starting after the ClientID after ("" for the start) and keeping only
// those that begin with prefix. Paging by the last ClientID seen returns
// every session that exists from the first page to the last exactly once,
// whatever is created or deleted in between.
func (r *Reader) Page(ctx context.Context, n int, after, prefix string, count int) ([]string, error) {
	lo, hi := "-", "+"
	if prefix != "" {
		// No byte of UTF-8 is 0xFF, so prefix+"\xff" sorts after every
		// ClientID that starts with prefix.
		lo, hi = "["+prefix, "["+prefix+"\xff"
	}
	if after != "" && (prefix == "" || after >= prefix) {
		lo = "(" + after
	}
	v, err := r.rdb.ZRangeByLex(ctx, r.keys.Index(n), &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(count)}).Result()
	if err != nil {
		return nil, fmt.Errorf("page partition %d: %w", n, err)
	}
	return v, nil
}
