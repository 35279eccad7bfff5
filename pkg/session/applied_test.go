package session_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// testAppliedAnnounced: with a live AppliedWatch that hears announcements,
// WaitApplied waits for the one that covers its connect and does not poll
// (the poll is set to an hour here): a connect applied without one leaves
// it waiting (the control), one announced wakes it. A watch that hears
// none (a session service that does not announce) or that stopped is not
// relied on: waiters poll again, so either costs time, never a connect.
func testAppliedAnnounced(t *testing.T, rdb redis.UniversalClient) {
	restore := session.SetWatchedPoll(time.Hour, time.Hour)
	defer func() { restore() }()
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	r := session.NewReaderOptions(rdb, opt)
	watch := session.NewAppliedWatch(rdb, opt, nil)
	r.Watch(watch)
	ctx := context.Background()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { watch.Run(wctx) })
	defer wg.Wait()
	defer stop()
	if err := w.Claim(ctx, 3, "owner"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "watch subscribed", watch.Live)
	apply := func(cid string, epoch int64, announce bool) {
		t.Helper()
		step := session.Step{Offset: epoch, Fn: func(tx *session.Tx) {
			tx.PutSession(cid, &session.Meta{Epoch: epoch, Conn: cid, Online: true})
		}}
		if err := w.ApplyBatch(ctx, 3, "owner", []session.Step{step}); err != nil {
			t.Fatal(err)
		}
		if announce {
			if err := w.Announce(ctx, 3, epoch); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait := func(cid string, epoch int64, limit time.Duration) <-chan error {
		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			_, err := r.WaitApplied(wctx, 3, cid, epoch)
			done <- err
		}()
		// Most likely waiting by now; the outcomes asserted hold either
		// way (an announcement heard before the wait covers it too).
		time.Sleep(50 * time.Millisecond)
		return done
	}

	done := wait("a", 20, 10*time.Second)
	apply("a", 20, true) // heard: the watch is relied on from now
	if err := <-done; err != nil {
		t.Fatalf("first announced: %v", err)
	}
	done = wait("b", 30, 500*time.Millisecond)
	apply("b", 30, false)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("not announced: got %v, want to be still waiting", err)
	}
	done = wait("d", 35, 10*time.Second)
	apply("d", 35, true)
	if err := <-done; err != nil {
		t.Fatalf("announced: %v", err)
	}
	restore()
	restore = session.SetWatchedPoll(time.Hour, 0) // every announcement is old news at once
	done = wait("e", 37, 10*time.Second)
	apply("e", 37, false)
	if err := <-done; err != nil {
		t.Fatalf("watch that hears nothing: %v", err)
	}
	stop()
	wg.Wait()
	if watch.Live() {
		t.Fatal("stopped watch still live")
	}
	done = wait("c", 40, 10*time.Second)
	apply("c", 40, false)
	if err := <-done; err != nil {
		t.Fatalf("watch stopped: %v", err)
	}
}

// TestAppliedWatchResubscribes: when Redis drops the watch's connection,
// waiters stop relying on it (they poll) and it subscribes again by
// itself; announcements then wake waiters as before.
func TestAppliedWatchResubscribes(t *testing.T) {
	rdb := redistest.Client(t)
	restore := session.SetWatchedPoll(time.Hour, time.Hour)
	defer restore()
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	r := session.NewReaderOptions(rdb, opt)
	watch := session.NewAppliedWatch(rdb, opt, nil)
	r.Watch(watch)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { watch.Run(ctx) })
	defer wg.Wait()
	defer stop()
	eventually(t, "subscribed", watch.Live)
	if err := rdb.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "connection loss seen", func() bool { return !watch.Live() })
	eventually(t, "subscribed again", watch.Live)
	// Heard, the watch is relied on again: from now on only an
	// announcement can wake a waiter (the poll is an hour).
	if err := w.Announce(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "announcement heard", func() bool { return session.AnnouncedUpTo(watch, 2) >= 1 })
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := r.WaitApplied(wctx, 2, "r1", 5)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // most likely waiting; either way it ends only by an announcement
	if err := w.ApplyBatch(ctx, 2, "", []session.Step{{Offset: 5, Fn: func(tx *session.Tx) {
		tx.PutSession("r1", &session.Meta{Epoch: 5, Conn: "r1", Online: true})
	}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Announce(ctx, 2, 5); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("after the new subscription: %v", err)
	}
}

// eventually polls cond until it holds, for at most 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
