package sessiond

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// TestRebuildAfterRedisWipe (invariant 4): wiping every key and
// restarting the service gives back every session, subscription, cursor,
// inflight entry, QoS 2 state, expiry schedule and offline queue, and
// announces nothing again.
func TestRebuildAfterRedisWipe(t *testing.T) { rebuildAfterRedisWipe(t, newHarness(t)) }

func rebuildAfterRedisWipe(t *testing.T, h *harness) {
	in := h.start(nil)
	subs := []session.Subscription{{Filter: "r/#", QoS: 2}, {Filter: "s/+", QoS: 1, SubID: 4}}

	// An offline persistent session with a queue.
	h.goOffline("offline", subs, msg{topic: "r/1", qos: 2, from: "p"})
	h.publish(msg{topic: "r/2", qos: 1, from: "p"}, msg{topic: "s/x", qos: 2, from: "p"})
	// An online session with everything set.
	on, _ := h.connect("online", connID("online", "A"), false, 4, 0)
	on.send(&session.Op{Kind: session.OpSubscribe, Subs: subs})
	on.send(&session.Op{Kind: session.OpProgress, Cursor: map[int]int64{0: 3, 1: 0},
		Inflight: []session.Inflight{{PacketID: 2, Partition: 0, Offset: 3, QoS: 1, State: session.InflightSent}}})
	on.send(&session.Op{Kind: session.OpQoS2Out, PacketID: 5, Partition: 1, Offset: 0})
	on.send(&session.Op{Kind: session.OpQoS2In, PacketID: 11})
	// A taken-over session and one that ended.
	h.connect("taken", connID("taken", "A"), false, 5, 300)
	h.connect("taken", connID("taken", "B"), false, 5, 300)
	gone, _ := h.connect("gone", connID("gone", "A"), true, 4, 0)
	gone.disconnect(events.DisconnectNormal, 0)
	cids := []string{"offline", "online", "taken", "gone"}
	for _, c := range cids {
		h.marker(c)
	}
	eventually(t, "offline queue filled", func() (bool, error) { return len(h.load("offline").Queue) == 3, nil })

	snapshot := func() map[string]session.State {
		out := map[string]session.State{}
		for _, c := range cids {
			st := h.load(c)
			st.QueueFrom = nil            // how far evaluation got differs; the queue may not
			st.Queue = sortRefs(st.Queue) // only the order per partition is kept
			out[c] = st
		}
		return out
	}
	schedule := func() map[string][]string {
		out := map[string][]string{}
		k := session.Keys{Prefix: h.prefix}
		for n := range testPartitions {
			ex, _ := h.rdb.ZRangeWithScores(context.Background(), k.Expiry(n), 0, -1).Result()
			for _, z := range ex {
				out["expiry"] = append(out["expiry"], z.Member.(string))
			}
			members, _ := h.rdb.SMembers(context.Background(), k.Part(n)).Result()
			slices.Sort(members)
			out["part"+itoa(n)] = members
		}
		return out
	}
	before, beforeSched := snapshot(), schedule()
	if !before["online"].Exists || len(before["online"].Inflight) != 2 || !before["offline"].Exists || before["gone"].Exists {
		t.Fatalf("setup wrong: %+v", before)
	}
	nEvents := map[string]int{}
	for _, c := range cids {
		nEvents[c] = len(h.sequence(c))
	}
	in.stop()

	if err := redistest.Flush(context.Background(), h.rdb, h.prefix); err != nil {
		t.Fatal(err)
	}
	if h.load("online").Exists {
		t.Fatal("wipe failed")
	}
	h.start(func(c *Config) { c.Registry = prometheus.NewRegistry() })
	eventually(t, "offline queue refilled", func() (bool, error) { return len(h.load("offline").Queue) == 3, nil })
	after, afterSched := snapshot(), schedule()
	for _, c := range cids {
		if !reflect.DeepEqual(before[c], after[c]) {
			t.Errorf("%s differs after rebuild\nbefore %+v\nafter  %+v", c, before[c], after[c])
		}
	}
	if !reflect.DeepEqual(beforeSched, afterSched) {
		t.Errorf("schedules differ\nbefore %v\nafter  %v", beforeSched, afterSched)
	}
	for _, c := range cids {
		h.marker(c)
		if n := len(h.sequence(c)); n != nEvents[c] {
			t.Errorf("%s: rebuild announced %s", c, describe(h.sequence(c)[nEvents[c]:]))
		}
	}
	h.checkEvents()
}

// TestWipeWhileRunning: when Redis is wiped under a running service, the
// next op finds the partition's claim gone, the instance stops writing,
// rejoins the group and rebuilds the view before applying it.
func TestWipeWhileRunning(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	subs := []session.Subscription{{Filter: "w/#", QoS: 1}}
	a, _ := h.connect("wiped", connID("wiped", "A"), false, 5, 600)
	a.send(&session.Op{Kind: session.OpSubscribe, Subs: subs})
	h.marker("wiped")
	before := h.load("wiped")

	if err := redistest.Flush(context.Background(), h.rdb, h.prefix); err != nil {
		t.Fatal(err)
	}
	// An op after the wipe: applied only once the view is back.
	a.send(&session.Op{Kind: session.OpProgress, Cursor: map[int]int64{0: 1}})
	h.marker("wiped")
	after := h.load("wiped")
	if !after.Exists || !reflect.DeepEqual(after.Subscriptions, before.Subscriptions) || after.Epoch != before.Epoch || after.Cursor[0] != 1 {
		t.Fatalf("view not rebuilt\nbefore %+v\nafter  %+v", before, after)
	}
	// Ops applied after the last commit and lost with Redis are applied
	// again, and their events announced again with the same ids.
	h.checkValid()
}
