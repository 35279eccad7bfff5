package leanmem

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"
)

func TestQuiet(t *testing.T) {
	tu := New(Options{Interval: time.Second, QuietPerMinute: 1})
	for _, tc := range []struct {
		name         string
		allocs, live uint64
		want         bool
	}{
		{"nothing allocated", 0, 100 << 20, true},
		{"well under the live heap per minute", 1 << 20, 100 << 20, true},
		{"the live heap per minute", (100<<20)/60 + 1, 100 << 20, false},
		{"a busy second", 50 << 20, 100 << 20, false},
		{"no live heap known", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tu.quiet(tc.allocs, tc.live); got != tc.want {
				t.Fatalf("quiet(%d, %d) = %v, want %v", tc.allocs, tc.live, got, tc.want)
			}
		})
	}
}

// TestObserveNeedsQuietInARow: one quiet sample between busy ones leaves
// the collector at its usual pace; two in a row make it lean; one busy
// sample ends that.
func TestObserveNeedsQuietInARow(t *testing.T) {
	if gogc() != 100 {
		t.Skipf("GOGC is %d here; the test expects the default", gogc())
	}
	tu := New(Options{})
	tu.usual = 100
	defer tu.setLean(false)
	for i, step := range []struct{ quiet, lean bool }{
		{true, false}, {false, false}, {true, false}, {true, true}, {true, true}, {false, false},
	} {
		tu.observe(step.quiet)
		if tu.lean != step.lean || (gogc() == 25) != step.lean {
			t.Fatalf("after sample %d (quiet %v): lean %v, GOGC %d; want lean %v", i, step.quiet, tu.lean, gogc(), step.lean)
		}
	}
}

// gogc is the collector's current GC percent.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestLeanWhileQuietUsualWhenBusy: a process holding a large live heap and
// allocating little gets the lean GOGC; allocating fast gives the usual one
// back; the end of Run restores it too.
func TestLeanWhileQuietUsualWhenBusy(t *testing.T) {
	if gogc() != 100 {
		t.Skipf("GOGC is %d here; the test expects the default", gogc())
	}
	held := make([][]byte, 64)
	for i := range held {
		held[i] = make([]byte, 1<<20) // 64 MiB live
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tu := New(Options{Interval: 20 * time.Millisecond, LeanPercent: 25})
	go func() { defer close(done); tu.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor := func(want uint64, work func()) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for gogc() != want {
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d, want %d", gogc(), want)
			}
			work()
		}
	}
	waitFor(25, func() { time.Sleep(5 * time.Millisecond) })
	var sink []byte
	waitFor(100, func() {
		for range 64 { // about 64 MiB in a few milliseconds: busy
			sink = make([]byte, 1<<20)
		}
		time.Sleep(time.Millisecond)
	})
	_ = sink
	waitFor(25, func() { time.Sleep(5 * time.Millisecond) })
	cancel()
	<-done
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC %d after Run, want 100 back", got)
	}
	if len(held) != 64 {
		t.Fatal("the live heap went away")
	}
}
