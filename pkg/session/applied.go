package session

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// After each run of ops that holds a connect, the session service announces
// on the Redis channel Keys.AppliedChannel "<partition>:<offset>": every op
// of that sessions partition up to offset is applied. A frontend waiting
// for its connect to be applied (Reader.WaitApplied) reads the session
// again when an announcement covers its epoch, instead of polling Redis
// on a tight schedule: under a storm of CONNECTs the polls were a third of
// a frontend's CPU and most of Redis's. Announcements are hints: one that
// is lost (pub/sub delivers at most once, and not while the subscription
// is being re-established) costs a slower poll, never a wrong answer.

// Announce tells frontends that every op of sessions partition n up to
// offset is applied; call it after the transaction that applied them. It
// is a command of its own, not part of that transaction: a Redis user
// without the right to publish (an ACL without the channel) must cost
// the frontends' polls, never the transaction.
func (w *Writer) Announce(ctx context.Context, n int, offset int64) error {
	return w.rdb.Publish(ctx, w.keys.AppliedChannel(), strconv.Itoa(n)+":"+strconv.FormatInt(offset, 10)).Err()
}

// AppliedWatch follows the session service's announcements for the
// Readers given it (Reader.Watch). Run it for as long as they wait.
type AppliedWatch struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	live    atomic.Bool  // subscribed: announcements arrive
	last    atomic.Int64 // when the last announcement arrived (unix ns)

	mu      sync.Mutex
	applied map[int]int64         // highest offset announced per partition
	next    map[int]chan struct{} // closed at the partition's next announcement
}

// NewAppliedWatch returns a watch of the announcements under opt's prefix.
func NewAppliedWatch(rdb redis.UniversalClient, opt Options, log *slog.Logger) *AppliedWatch {
	if log == nil {
		log = slog.Default()
	}
	return &AppliedWatch{rdb: rdb, channel: Keys(opt).AppliedChannel(), log: log,
		applied: map[int]int64{}, next: map[int]chan struct{}{}}
}

// Run subscribes and follows the announcements until ctx ends,
// subscribing again after a failure.
func (w *AppliedWatch) Run(ctx context.Context) {
	ps := w.rdb.Subscribe(ctx, w.channel)
	// Receive does not return when ctx ends; closing ps makes it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
		w.live.Store(false)
		w.wakeAll()
	}()
	var failing time.Time
	retry := 250 * time.Millisecond
	for ctx.Err() == nil {
		v, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if w.live.Swap(false) {
				w.wakeAll() // waiters go back to polling at the fast pace
			}
			if failing.IsZero() {
				failing = time.Now()
				w.log.Warn("applied announcements unavailable; frontends poll Redis for applied connects meanwhile", "err", err)
			}
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			retry = min(2*retry, 5*time.Second)
			continue
		}
		switch m := v.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !w.live.Swap(true) && !failing.IsZero() {
				w.log.Info("applied announcements followed again", "after", time.Since(failing).Round(time.Millisecond))
				failing, retry = time.Time{}, 250*time.Millisecond
			}
		case *redis.Message:
			w.observe(m.Payload)
		}
	}
}

// observe records one announcement and wakes its partition's waiters.
func (w *AppliedWatch) observe(payload string) {
	ps, os, ok := strings.Cut(payload, ":")
	n, err1 := strconv.Atoi(ps)
	off, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		w.log.Debug("unreadable applied announcement", "payload", payload)
		return
	}
	w.last.Store(time.Now().UnixNano())
	w.mu.Lock()
	if off > w.applied[n] {
		w.applied[n] = off
	}
	ch := w.next[n]
	delete(w.next, n)
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// wakeAll wakes every waiter.
func (w *AppliedWatch) wakeAll() {
	w.mu.Lock()
	chs := w.next
	w.next = map[int]chan struct{}{}
	w.mu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
}

// quietAfter: a watch that heard no announcement for this long is not
// relied on (waiters poll), so a session service that does not announce
// (an older version during an upgrade, a Redis user that may not publish)
// costs no more than polling. A variable for tests.
var quietAfter = time.Second

// await returns a channel closed at partition n's next announcement (or
// when the watch stops being live), and whether epoch is announced
// applied already. The channel is nil while the watch is not relied on.
func (w *AppliedWatch) await(n int, epoch int64) (<-chan struct{}, bool) {
	if !w.live.Load() {
		return nil, false
	}
	relied := time.Since(time.Unix(0, w.last.Load())) <= quietAfter
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.applied[n] >= epoch {
		return nil, true
	}
	if !relied {
		return nil, false
	}
	ch := w.next[n]
	if ch == nil {
		ch = make(chan struct{})
		w.next[n] = ch
	}
	return ch, false
}

// Live reports whether announcements arrive.
func (w *AppliedWatch) Live() bool { return w.live.Load() }
