package liveness_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// eventually polls cond until it holds, for at most 30s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHeartAndTracker runs hearts and a tracker over a real Kafka: the
// nodes topic is created on first use, a beating frontend is alive, a
// renewed incarnation supersedes the old one at once, a signed-off one is
// down, and one that stops beating is dead after the timeout, judged on
// the tracker's own clock.
func TestHeartAndTracker(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topic := kafkatest.UniqueName(t, "nodes")
	app := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer app.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	beat := func(h *liveness.Heart) context.CancelFunc {
		hctx, stop := context.WithCancel(ctx)
		wg.Go(func() { h.Run(hctx) })
		return stop
	}
	const timeout = 2 * time.Second
	cfg := func(node, role string) liveness.HeartConfig {
		return liveness.HeartConfig{Topic: topic, Node: node, Role: role, Interval: 200 * time.Millisecond, Brokers: brokers,
			Conns: func() int { return 7 }, Logger: quiet}
	}
	sd := liveness.NewHeart(app, cfg("sd", liveness.RoleSessiond))
	beat(sd)
	select {
	case <-sd.Announced():
	case <-time.After(30 * time.Second):
		t.Fatal("no announcement")
	}
	tr := liveness.NewTracker(liveness.TrackerConfig{Brokers: brokers, Topic: topic, Timeout: timeout, Logger: quiet})
	tr.Witness(sd.Inc())
	wg.Go(func() { _ = tr.Run(ctx) })
	eventually(t, "tracker hears its witness", tr.Hearing)

	fe := liveness.NewHeart(app, cfg("fe", liveness.RoleFrontend))
	stopFE := beat(fe)
	first := fe.Inc()
	eventually(t, "frontend alive", func() bool { return tr.Alive(liveness.RoleFrontend) == 1 })
	for _, ns := range tr.Nodes() {
		if ns.Inc == first && (ns.Conns != 7 || ns.Version == "" || ns.Started.IsZero()) {
			t.Fatalf("frontend listed as %+v", ns)
		}
	}
	if v := tr.Judge(first, "fe"); v.Dead {
		t.Fatalf("beating frontend judged %+v", v)
	}

	// A new incarnation of the same node: the old one is dead at once.
	if old := fe.Renew(); old != first {
		t.Fatalf("renew returned %s, want %s", old, first)
	}
	second := fe.Inc()
	eventually(t, "old incarnation superseded", func() bool {
		v := tr.Judge(first, "fe")
		return v.Dead && v.Reason == liveness.DownRestarted
	})

	// Silence: dead only after the timeout, not at once.
	stopFE()
	stopped := time.Now()
	var v liveness.Verdict
	eventually(t, "silent incarnation dead", func() bool { v = tr.Judge(second, "fe"); return v.Dead })
	if d := time.Since(time.UnixMilli(v.LastAlive)); d < timeout {
		t.Fatalf("judged dead %v after its last beat, before the %v timeout", d, timeout)
	}
	if v.Reason != liveness.DownTimeout || v.LastAlive > stopped.UnixMilli() {
		t.Fatalf("verdict %+v (stopped at %d)", v, stopped.UnixMilli())
	}

	// Signing off is down at once, and stays so.
	if err := sd.SignOff(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "signed off", func() bool {
		v := tr.Judge(sd.Inc(), "sd")
		return v.Dead && v.Reason == liveness.DownStopped
	})
}
