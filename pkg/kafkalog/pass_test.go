package kafkalog_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

// TestFollowerPassesWhileIdle: while Idle reports true the Follower hands
// its handler nothing and asks Pass to move over the new records, as one
// range from the position to the end; when Pass refuses, the same records
// are fetched and handled; once Idle reports false, every record is handled
// from where the last pass left off, none twice.
func TestFollowerPassesWhileIdle(t *testing.T) {
	kc := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 1)
	ctx := testCtx(t)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()
	appendN := func(n int, v string) {
		t.Helper()
		for range n {
			if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte(v)}); err != nil {
				t.Fatal(err)
			}
		}
	}

	var idle, refuse atomic.Bool
	idle.Store(true)
	var mu sync.Mutex
	var passed [][2]int64
	col := newCollector()
	f := kafkalog.NewFollower(kc, kafkalog.FollowerOptions{
		Topic: topic, Default: kafkalog.Earliest, MaxWait: 10 * time.Millisecond,
		Idle: idle.Load,
		Pass: func(p int, from, to int64) bool {
			if refuse.Load() {
				idle.Store(false) // whoever refuses has started to listen
				return false
			}
			mu.Lock()
			passed = append(passed, [2]int64{from, to})
			mu.Unlock()
			return true
		},
	}, col.add)
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}()
	<-f.Ready()

	appendN(5, "passed")
	waitUntil(t, "the five records passed", func() bool { return f.Positions()[0] == 5 })
	mu.Lock()
	var covered int64
	for _, r := range passed {
		if r[0] != covered {
			t.Errorf("pass from %d, want %d (contiguous ranges)", r[0], covered)
		}
		covered = r[1]
	}
	mu.Unlock()
	if covered != 5 {
		t.Errorf("passes covered [0, %d), want [0, 5)", covered)
	}
	if got := col.snapshot(); len(got) != 0 {
		t.Fatalf("handled %d records while idle", len(got))
	}

	refuse.Store(true)
	appendN(3, "handled")
	got := col.wait(t, 3)
	for i, r := range got {
		if r.Offset != int64(5+i) || string(r.Value) != "handled" {
			t.Fatalf("record %d: offset %d %q, want offset %d \"handled\"", i, r.Offset, r.Value, 5+i)
		}
	}
	appendN(2, "handled")
	if got := col.wait(t, 5); got[4].Offset != 9 {
		t.Fatalf("last record at offset %d, want 9", got[4].Offset)
	}
}

// waitUntil polls cond: the Follower's progress has no signal to wait on.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
