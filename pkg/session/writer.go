package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writer is the session service's access to the Redis view. It is the only
// code that writes it. Each op is applied in one MULTI/EXEC that also
// records the op's offset in `applied:<n>` (and in the client's `applied`
// when the session survives the op), so a reader never sees half an op and
// a restarted writer knows where the view stands.
type Writer struct {
	rdb  redis.UniversalClient
	keys Keys
}

// NewWriter returns a Writer over rdb.
func NewWriter(rdb redis.UniversalClient, opt Options) *Writer {
	return &Writer{rdb: rdb, keys: Keys(opt)}
}

// Keys returns the key names the Writer uses.
func (w *Writer) Keys() Keys { return w.keys }

// reader reads the view the Writer writes.
func (w *Writer) reader() *Reader { return &Reader{rdb: w.rdb, keys: w.keys} }

// Meta reads the session hash of cid (sessions partition n); see
// Reader.Meta.
func (w *Writer) Meta(ctx context.Context, n int, cid string) (*Meta, error) {
	return w.reader().Meta(ctx, n, cid)
}

// Metas reads the session hashes of cids, all of sessions partition n, in
// one round trip; see Reader.Metas.
func (w *Writer) Metas(ctx context.Context, n int, cids []string) (map[string]*Meta, error) {
	return w.reader().Metas(ctx, n, cids)
}

// QueueViews reads what the offline queue needs of sessions (see
// Reader.QueueViews).
func (w *Writer) QueueViews(ctx context.Context, n int, cids []string) (map[string]QueueView, error) {
	return w.reader().QueueViews(ctx, n, cids)
}

// Load reads a whole session consistently (see Reader.Load).
func (w *Writer) Load(ctx context.Context, n int, cid string) (State, error) {
	return w.reader().Load(ctx, n, cid)
}

// Applied returns the offset of the last op applied from sessions
// partition n (see Reader.Applied).
func (w *Writer) Applied(ctx context.Context, n int) (offset int64, ok bool, err error) {
	return w.reader().Applied(ctx, n)
}

// IndexPartition adds every ClientID of sessions partition n to its
// index: views written before the index existed get it at the next
// assignment, and adding what is there already changes nothing.
func (w *Writer) IndexPartition(ctx context.Context, n int) error {
	cids, err := w.Clients(ctx, n)
	if err != nil || len(cids) == 0 {
		return err
	}
	zs := make([]redis.Z, len(cids))
	for i, cid := range cids {
		zs[i] = redis.Z{Member: cid}
	}
	if err := w.rdb.ZAdd(ctx, w.keys.Index(n), zs...).Err(); err != nil {
		return fmt.Errorf("index partition %d: %w", n, err)
	}
	return nil
}

// Clients lists the ClientIDs with a session in sessions partition n.
func (w *Writer) Clients(ctx context.Context, n int) ([]string, error) {
	v, err := w.rdb.SMembers(ctx, w.keys.Part(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("list partition %d: %w", n, err)
	}
	return v, nil
}

// Due lists the sessions of partition n whose expiry is at or before
// nowMs.
func (w *Writer) Due(ctx context.Context, n int, nowMs int64) ([]string, error) {
	v, err := w.rdb.ZRangeByScore(ctx, w.keys.Expiry(n), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(nowMs, 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list due sessions %d: %w", n, err)
	}
	return v, nil
}

// DueWills lists the sessions of partition n whose delayed will is due at
// or before nowMs.
func (w *Writer) DueWills(ctx context.Context, n int, nowMs int64) ([]string, error) {
	v, err := w.rdb.ZRangeByScore(ctx, w.keys.Wills(n), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(nowMs, 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list due wills %d: %w", n, err)
	}
	return v, nil
}

// PendingWills counts the delayed wills of partition n.
func (w *Writer) PendingWills(ctx context.Context, n int) (int64, error) {
	v, err := w.rdb.ZCard(ctx, w.keys.Wills(n)).Result()
	if err != nil {
		return 0, fmt.Errorf("count wills %d: %w", n, err)
	}
	return v, nil
}

// Held lists, sorted, the ClientIDs of partition n online on frontend
// incarnation inc.
func (w *Writer) Held(ctx context.Context, n int, inc string) ([]string, error) {
	v, err := w.rdb.SMembers(ctx, w.keys.Held(n, inc)).Result()
	if err != nil {
		return nil, fmt.Errorf("list sessions of %s in %d: %w", inc, n, err)
	}
	sort.Strings(v)
	return v, nil
}

// Incarnations returns the frontend incarnations (inc -> node name) that
// have had sessions of partition n online and were not declared down there.
func (w *Writer) Incarnations(ctx context.Context, n int) (map[string]string, error) {
	v, err := w.rdb.HGetAll(ctx, w.keys.Incarnations(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("list incarnations %d: %w", n, err)
	}
	return v, nil
}

// Down returns the incarnations declared down in partition n.
func (w *Writer) Down(ctx context.Context, n int) (map[string]bool, error) {
	v, err := w.rdb.ZRange(ctx, w.keys.Down(n), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list incarnations down %d: %w", n, err)
	}
	out := make(map[string]bool, len(v))
	for _, inc := range v {
		out[inc] = true
	}
	return out, nil
}

// WillMark records where a will being published was appended after: its
// messages partition and that partition's end offset before the append.
type WillMark struct {
	Partition int
	From      int64
}

// MarkWills records, before their append, the wills a run of partition n
// is about to publish. A crash between the append and the run's Redis
// transaction (which removes the marks, see Tx.UnmarkWills) leaves the
// marks: whoever applies the run again looks for each marked will in its
// partition from From on, and publishes only those not found.
func (w *Writer) MarkWills(ctx context.Context, n int, marks map[string]WillMark) error {
	if len(marks) == 0 {
		return nil
	}
	vals := make([]any, 0, 2*len(marks))
	for id, m := range marks {
		vals = append(vals, id, strconv.Itoa(m.Partition)+":"+strconv.FormatInt(m.From, 10))
	}
	if err := w.rdb.HSet(ctx, w.keys.WillMarks(n), vals...).Err(); err != nil {
		return fmt.Errorf("mark wills %d: %w", n, err)
	}
	return nil
}

// WillMarks returns the marks of the given will ids that exist.
func (w *Writer) WillMarks(ctx context.Context, n int, ids []string) (map[string]WillMark, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	v, err := w.rdb.HMGet(ctx, w.keys.WillMarks(n), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("read will marks %d: %w", n, err)
	}
	out := map[string]WillMark{}
	for i, x := range v {
		s, ok := x.(string)
		if !ok {
			continue
		}
		ps, os, _ := strings.Cut(s, ":")
		p, err1 := strconv.Atoi(ps)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read will marks %d: bad mark %q", n, s)
		}
		out[ids[i]] = WillMark{Partition: p, From: o}
	}
	return out, nil
}

// Apply runs fn's changes and the `applied:<n>` = offset mark in one
// MULTI/EXEC: ApplyBatch of one step, without an owner check.
func (w *Writer) Apply(ctx context.Context, partition int, offset int64, fn func(*Tx)) error {
	return w.ApplyBatch(ctx, partition, "", []Step{{Offset: offset, Fn: fn}})
}

// ErrNotOwner is returned by ApplyBatch when another instance has claimed
// the partition since this one did (or the claim was wiped): this
// instance's ownership is stale and it must stop writing.
var ErrNotOwner = errors.New("partition owned by another instance")

// Claim records owner as the writer of sessions partition n. Writes by the
// previous owner fail from then on (see ApplyBatch), so a paused instance
// that lost its partitions cannot overwrite its successor's view.
func (w *Writer) Claim(ctx context.Context, n int, owner string) error {
	if err := w.rdb.Set(ctx, w.keys.Owner(n), owner, 0).Err(); err != nil {
		return fmt.Errorf("claim partition %d: %w", n, err)
	}
	return nil
}

// Step is one op's changes in ApplyBatch.
type Step struct {
	Offset int64
	Fn     func(*Tx) // nil: the op changes nothing but the applied mark
}

// ApplyBatch applies the steps of a run of ops of one partition, in
// order, in one MULTI/EXEC, and sets `applied:<n>` to the last step's
// offset: atomic per op and for the run as a whole. With a non-empty
// owner the transaction runs only while `owner:<n>` still names owner
// (WATCH), else it fails with ErrNotOwner and writes nothing.
func (w *Writer) ApplyBatch(ctx context.Context, partition int, owner string, steps []Step) error {
	if len(steps) == 0 {
		return nil
	}
	last := steps[len(steps)-1].Offset
	apply := func(p redis.Pipeliner) error {
		for _, st := range steps {
			if st.Fn != nil {
				st.Fn(&Tx{ctx: ctx, p: p, k: w.keys, partition: partition, offset: st.Offset})
			}
		}
		p.Set(ctx, w.keys.Applied(partition), last, 0)
		return nil
	}
	var err error
	if owner == "" {
		_, err = w.rdb.TxPipelined(ctx, apply)
	} else {
		key := w.keys.Owner(partition)
		err = w.rdb.Watch(ctx, func(tx *redis.Tx) error {
			cur, err := tx.Get(ctx, key).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if cur != owner {
				return ErrNotOwner
			}
			_, err = tx.TxPipelined(ctx, apply)
			if errors.Is(err, redis.TxFailedErr) {
				return ErrNotOwner // the claim changed while we applied
			}
			return err
		}, key)
	}
	if err != nil {
		return fmt.Errorf("apply ops %d/[%d..%d]: %w", partition, steps[0].Offset, last, err)
	}
	return nil
}

// Tx queues the changes of one op; see Writer.ApplyBatch.
type Tx struct {
	ctx       context.Context
	p         redis.Pipeliner
	k         Keys
	partition int
	offset    int64
}

// PutSession replaces the session hash with m (Applied and Partition are
// set from the op), registers the client in its partition, and schedules
// or cancels its expiry and its wills: an offline session with
// ExpiresAt > 0 is scheduled to expire, and any session at its NextWill.
func (t *Tx) PutSession(cid string, m *Meta) {
	m.Applied = t.offset
	m.Partition = t.partition
	key := t.k.Session(t.partition, cid)
	t.p.Del(t.ctx, key)
	t.p.HSet(t.ctx, key, m.fields())
	t.p.SAdd(t.ctx, t.k.Part(t.partition), cid)
	t.p.ZAdd(t.ctx, t.k.Index(t.partition), redis.Z{Member: cid})
	t.schedule(t.k.Expiry(t.partition), cid, !m.Online, m.ExpiresAt)
	t.schedule(t.k.Wills(t.partition), cid, true, m.NextWill())
}

// schedule adds cid to the due set key at `at` when on and at > 0, and
// removes it otherwise.
func (t *Tx) schedule(key, cid string, on bool, at int64) {
	if on && at > 0 {
		t.p.ZAdd(t.ctx, key, redis.Z{Score: float64(at), Member: cid})
	} else {
		t.p.ZRem(t.ctx, key, cid)
	}
}

// downMemory is how long a partition remembers an incarnation declared
// down: a connect op of that incarnation logged after the declaration (a
// frontend that was cut off and came back) is ignored meanwhile.
const downMemory = 7 * 24 * time.Hour

// Hold records that cid's session is online on frontend incarnation inc
// (of node), so that a node_down op for inc finds it.
func (t *Tx) Hold(cid, inc, node string) {
	if inc == "" {
		return
	}
	t.p.SAdd(t.ctx, t.k.Held(t.partition, inc), cid)
	t.p.HSet(t.ctx, t.k.Incarnations(t.partition), inc, node)
}

// Release undoes Hold: cid's connection on inc ended.
func (t *Tx) Release(cid, inc string) {
	if inc == "" {
		return
	}
	t.p.SRem(t.ctx, t.k.Held(t.partition, inc), cid)
}

// NodeDown records that incarnation inc, last known alive at aliveMs, was
// declared down in the partition: it holds nothing any more and is no
// longer judged; declarations older than downMemory are forgotten.
func (t *Tx) NodeDown(inc string, aliveMs int64) {
	t.p.Del(t.ctx, t.k.Held(t.partition, inc))
	t.p.HDel(t.ctx, t.k.Incarnations(t.partition), inc)
	t.p.ZAdd(t.ctx, t.k.Down(t.partition), redis.Z{Score: float64(aliveMs), Member: inc})
	t.p.ZRemRangeByScore(t.ctx, t.k.Down(t.partition), "-inf", "("+strconv.FormatInt(aliveMs-downMemory.Milliseconds(), 10))
}

// UnmarkWills removes the marks of wills whose publication the run
// completes (see Writer.MarkWills).
func (t *Tx) UnmarkWills(ids ...string) {
	if len(ids) == 0 {
		return
	}
	t.p.HDel(t.ctx, t.k.WillMarks(t.partition), ids...)
}

// Touch records that the op was applied to an existing session without
// changing its hash otherwise.
func (t *Tx) Touch(cid string) {
	t.p.HSet(t.ctx, t.k.Session(t.partition, cid), "applied", t.offset)
}

// Delete removes every key of the session and its registrations.
func (t *Tx) Delete(cid string) {
	t.p.Del(t.ctx, t.k.all(t.partition, cid)...)
	t.p.SRem(t.ctx, t.k.Part(t.partition), cid)
	t.p.ZRem(t.ctx, t.k.Index(t.partition), cid)
	t.p.ZRem(t.ctx, t.k.Expiry(t.partition), cid)
	t.p.ZRem(t.ctx, t.k.Wills(t.partition), cid)
}

// Discard removes the session's contents (subscriptions, cursor, inflight,
// QoS 2 state, queue) but not its hash: a clean start.
func (t *Tx) Discard(cid string) {
	t.p.Del(t.ctx, t.k.state(t.partition, cid)...)
}

// PutSubs adds or replaces subscriptions.
func (t *Tx) PutSubs(cid string, subs ...Subscription) {
	if len(subs) == 0 {
		return
	}
	vals := make([]any, 0, 2*len(subs))
	for _, s := range subs {
		b, _ := json.Marshal(s)
		vals = append(vals, s.Filter, string(b))
	}
	t.p.HSet(t.ctx, t.k.Subs(t.partition, cid), vals...)
}

// DelSubs removes subscriptions by filter.
func (t *Tx) DelSubs(cid string, filters ...string) {
	if len(filters) == 0 {
		return
	}
	t.p.HDel(t.ctx, t.k.Subs(t.partition, cid), filters...)
}

// MergeCursor sets the given partitions' cursors, leaving others.
func (t *Tx) MergeCursor(cid string, cursor map[int]int64) {
	if len(cursor) == 0 {
		return
	}
	t.p.HSet(t.ctx, t.k.Cursor(t.partition, cid), offsetArgs(cursor)...)
}

// SeedCursor sets the cursor of the partitions that have none yet. A
// subscribe op carries the frontend's live positions from before the
// subscription started, so a session taken over before its first progress
// op still has a place to replay from; cursors already known stay.
func (t *Tx) SeedCursor(cid string, cursor map[int]int64) {
	for p, o := range cursor {
		t.p.HSetNX(t.ctx, t.k.Cursor(t.partition, cid), strconv.Itoa(p), o)
	}
}

// ReplaceInflight replaces the whole inflight set (progress ops carry all
// of it).
func (t *Tx) ReplaceInflight(cid string, in []Inflight) {
	key := t.k.Inflight(t.partition, cid)
	t.p.Del(t.ctx, key)
	for _, i := range in {
		t.PutInflight(cid, i)
	}
}

// PutInflight adds or replaces one inflight entry.
func (t *Tx) PutInflight(cid string, in Inflight) {
	b, _ := json.Marshal(in)
	t.p.HSet(t.ctx, t.k.Inflight(t.partition, cid), strconv.Itoa(int(in.PacketID)), string(b))
}

// AddQoS2In records an inbound QoS 2 packet id awaiting PUBREL.
func (t *Tx) AddQoS2In(cid string, pid uint16) {
	t.p.SAdd(t.ctx, t.k.QoS2In(t.partition, cid), strconv.Itoa(int(pid)))
}

// DelQoS2In forgets an inbound QoS 2 packet id (PUBREL received).
func (t *Tx) DelQoS2In(cid string, pid uint16) {
	t.p.SRem(t.ctx, t.k.QoS2In(t.partition, cid), strconv.Itoa(int(pid)))
}

// ResetQueue empties the offline queue and restarts its evaluation at
// qfrom: done when a session goes offline, since everything below the
// cursor was delivered and everything at or above it is evaluated again.
func (t *Tx) ResetQueue(cid string, qfrom map[int]int64) {
	t.p.Del(t.ctx, t.k.Queue(t.partition, cid), t.k.QueueFrom(t.partition, cid))
	if len(qfrom) > 0 {
		t.p.HSet(t.ctx, t.k.QueueFrom(t.partition, cid), offsetArgs(qfrom)...)
	}
}

func offsetArgs(m map[int]int64) []any {
	vals := make([]any, 0, 2*len(m))
	for p, o := range m {
		vals = append(vals, strconv.Itoa(p), o)
	}
	return vals
}

// Enqueue appends refs to the offline queue of cid (sessions partition n)
// and advances its qfrom in one transaction; when the queue then exceeds max (max > 0), the oldest
// entries are removed and returned so the caller can announce them. It
// also returns the queue's length afterwards.
func (w *Writer) Enqueue(ctx context.Context, n int, cid string, refs []QueueRef, qfrom map[int]int64, max int) ([]QueueRef, int64, error) {
	if len(refs) == 0 && len(qfrom) == 0 {
		return nil, 0, nil
	}
	var dropped *redis.StringSliceCmd
	var length *redis.IntCmd
	_, err := w.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(refs) > 0 {
			vals := make([]any, len(refs))
			for i, r := range refs {
				vals[i] = r.String()
			}
			p.RPush(ctx, w.keys.Queue(n, cid), vals...)
		}
		if len(qfrom) > 0 {
			p.HSet(ctx, w.keys.QueueFrom(n, cid), offsetArgs(qfrom)...)
		}
		if max > 0 && len(refs) > 0 {
			dropped = p.LRange(ctx, w.keys.Queue(n, cid), 0, int64(-max-1))
			p.LTrim(ctx, w.keys.Queue(n, cid), int64(-max), -1)
		}
		length = p.LLen(ctx, w.keys.Queue(n, cid))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("enqueue %q: %w", cid, err)
	}
	if dropped == nil {
		return nil, length.Val(), nil
	}
	var out []QueueRef
	for _, s := range dropped.Val() {
		r, err := ParseQueueRef(s)
		if err != nil {
			return out, length.Val(), err
		}
		out = append(out, r)
	}
	return out, length.Val(), nil
}
