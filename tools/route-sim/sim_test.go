package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

// TestRunModes runs every mode briefly against the test stack's Kafka:
// the whole path (topics, followers, publisher, copies, drain, check) with
// nothing measured, so a broken mode shows before anyone spends a real
// broker's time on it.
func TestRunModes(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of publishing")
	}
	kc := kafkatest.Cluster(t)
	for _, mode := range []string{modeBroadcast, modeRouted, modePublish, modePublishRouted} {
		t.Run(mode, func(t *testing.T) {
			cfg := config{
				cluster: kc, runID: kafkatest.UniqueName(t, "route-sim"), mode: mode,
				nodes: 3, topics: 10, interest: 2, rate: 2000,
				duration: 1200 * time.Millisecond, warmup: 200 * time.Millisecond, drain: 10 * time.Second,
				size: 64, partitions: 4, publishers: 3, maxBatch: 500, kafkaPID: -1,
				log: slog.New(slog.DiscardHandler),
			}
			res, err := runMode(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Published < 1000 || res.Published > 2400 {
				t.Errorf("published %d, want about 2400", res.Published)
			}
			if want := int64(0); !routedMode(mode) && res.Copies != want {
				t.Errorf("copies %d, want none", res.Copies)
			}
			if routedMode(mode) && res.Copies != 2*res.Published {
				t.Errorf("copies %d, want 2 per message (%d)", res.Copies, res.Published)
			}
			if !hasNodes(mode) {
				if res.Deliveries != nil {
					t.Errorf("deliveries %+v without nodes", *res.Deliveries)
				}
				return
			}
			v := res.Deliveries
			if v == nil || !v.ok() || v.Delivered != 2*res.Published {
				t.Fatalf("deliveries %+v, want %d, all ok", v, 2*res.Published)
			}
			// Broadcast: every node fetches every message; routed: only
			// its copies.
			want := 3 * res.Published
			if mode == modeRouted {
				want = 2 * res.Published
			}
			if res.FetchedTotal != want {
				t.Errorf("fetched %d records, want %d", res.FetchedTotal, want)
			}
		})
	}
}
