package sessiond

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// opsApplied sums the ops an instance processed (applied or found stale).
func opsApplied(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "tidemark_sessiond_ops_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

func ownedCount(in *instance) int { return len(in.svc.owned()) }

// TestTwoInstances (invariant 3): two instances in one group split the
// partitions, each op is applied by exactly one of them, and when one
// stops the other takes its partitions over and the sessions continue.
func TestTwoInstances(t *testing.T) {
	h := newHarness(t)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a := h.start(func(c *Config) { c.Registry = regA; c.Node = "sessiond-a" })
	b := h.start(func(c *Config) { c.Registry = regB; c.Node = "sessiond-b" })
	eventually(t, "partitions split", func() (bool, error) {
		na, nb := ownedCount(a), ownedCount(b)
		return na > 0 && nb > 0 && na+nb == testPartitions, nil
	})

	ops := 0
	var clients []*conn
	for i := range 8 {
		cid := fmt.Sprintf("grp-%d", i)
		c, _ := h.connect(cid, connID(cid, "A"), false, 5, 600)
		c.send(&session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: cid + "/#", QoS: 1}}})
		h.marker(cid)
		ops += 3
		clients = append(clients, c)
	}
	if got := opsApplied(t, regA) + opsApplied(t, regB); got != float64(ops) {
		t.Fatalf("ops processed %v, appended %d", got, ops)
	}
	if opsApplied(t, regA) == 0 || opsApplied(t, regB) == 0 {
		t.Fatalf("one instance did all the work: a=%v b=%v", opsApplied(t, regA), opsApplied(t, regB))
	}

	a.stop()
	eventually(t, "b owns every partition", func() (bool, error) { return ownedCount(b) == testPartitions, nil })
	for _, old := range clients {
		cid := old.cid
		c, st := h.connect(cid, connID(cid, "B"), false, 5, 600)
		if !st.Present || len(st.Subscriptions) != 1 {
			t.Fatalf("%s: session not continued: %+v", cid, st)
		}
		c.send(&session.Op{Kind: session.OpUnsubscribe, Filters: []string{cid + "/#"}})
		h.marker(cid)
		got := describe(h.sequence(cid))
		exp := describeWants([]want{
			{typ: events.SessionCreated, conn: old.id}, {typ: events.ClientConnected, conn: old.id},
			{typ: events.SessionSubscribed, conn: old.id},
			{typ: events.ClientDisconnected, conn: old.id, reason: string(events.DisconnectTakenOver)},
			{typ: events.SessionResumed, conn: c.id}, {typ: events.ClientConnected, conn: c.id, present: true},
			{typ: events.SessionUnsubscribed, conn: c.id},
		})
		if got != exp {
			t.Fatalf("%s events\n got %s\nwant %s", cid, got, exp)
		}
	}
	h.checkEvents()
}
