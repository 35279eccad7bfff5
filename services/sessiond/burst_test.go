package sessiond

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// appendOps appends ops in one call, so the service fetches them together
// and applies them as one run, and returns their offsets.
func (h *harness) appendOps(ops ...*session.Op) []int64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var offs []int64
	for _, o := range ops {
		if o.TS == 0 {
			o.TS = time.Now().UnixMilli()
		}
		if o.Node == "" {
			o.Node = "fe-1"
		}
		rec := o.Record(h.topics.Sessions)
		if err := h.app.Append(ctx, rec); err != nil {
			h.t.Fatal(err)
		}
		offs = append(offs, rec.Offset)
	}
	return offs
}

// TestBurstsApplyLikeSingleOps: ops that arrive together are decided
// against the effects of the ops before them in the same run (a progress
// before a disconnect, a disconnect before a reconnect).
func TestBurstsApplyLikeSingleOps(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	h.start(func(c *Config) { c.Registry = reg })
	defer func() {
		// The bursts must have been applied in runs of several ops, or
		// this test did not test runs.
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "tidemark_sessiond_run_ops" {
				hg := mf.GetMetric()[0].GetHistogram()
				if hg.GetSampleSum() <= float64(hg.GetSampleCount()) {
					t.Errorf("every run had one op (%d runs)", hg.GetSampleCount())
				}
			}
		}
	}()

	t.Run("one client", func(t *testing.T) {
		const cid = "burst"
		a, _ := h.connect(cid, connID(cid, "A"), false, 5, 60)
		// One batch: everything the old connection does, then a reconnect.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mk := func(o session.Op) *session.Op {
			o.ClientID, o.Conn, o.Epoch, o.TS, o.Node = cid, a.id, a.epoch, time.Now().UnixMilli(), "fe-1"
			return &o
		}
		ops := []*session.Op{
			mk(session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: "x/#", QoS: 1}}}),
			mk(session.Op{Kind: session.OpProgress, Cursor: map[int]int64{0: 5, 1: 6}}),
			mk(session.Op{Kind: session.OpDisconnect, Reason: string(events.DisconnectNormal), Expiry: 60}),
			{Kind: session.OpConnect, ClientID: cid, Conn: connID(cid, "B"), Node: "fe-2", TS: time.Now().UnixMilli(), Proto: 5, Expiry: 60},
		}
		recs := make([]*kafkalog.Record, 0, len(ops))
		for _, o := range ops {
			recs = append(recs, o.Record(h.topics.Sessions))
		}
		if err := h.app.Append(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		epochB := recs[3].Offset
		st, err := h.reader.WaitApplied(ctx, partOf(cid), cid, epochB)
		if err != nil {
			t.Fatal(err)
		}
		h.marker(cid)
		if !st.Present || !reflect.DeepEqual(st.Cursor, map[int]int64{0: 5, 1: 6}) || len(st.Subscriptions) != 1 {
			t.Fatalf("state after burst %+v", st)
		}
		if st.QueueFrom[0] != 5 || st.QueueFrom[1] != 6 {
			t.Fatalf("qfrom %v, want the cursor", st.QueueFrom)
		}
		got := describe(h.sequence(cid))
		exp := describeWants([]want{
			{typ: events.SessionCreated, conn: a.id}, {typ: events.ClientConnected, conn: a.id},
			{typ: events.SessionSubscribed, conn: a.id}, {typ: events.ClientDisconnected, conn: a.id, reason: string(events.DisconnectNormal)},
			{typ: events.SessionResumed, conn: connID(cid, "B")}, {typ: events.ClientConnected, conn: connID(cid, "B"), present: true},
		})
		if got != exp {
			t.Fatalf("events\n got %s\nwant %s", got, exp)
		}
	})

	t.Run("many clients", func(t *testing.T) {
		const n = 40
		var connects []*session.Op
		for i := range n {
			cid := fmt.Sprintf("many-%d", i)
			connects = append(connects, &session.Op{Kind: session.OpConnect, ClientID: cid, Conn: connID(cid, "A"), Proto: 4, Clean: true})
		}
		epochs := h.appendOps(connects...)
		var ends []*session.Op
		for i, c := range connects {
			ends = append(ends, &session.Op{Kind: session.OpDisconnect, ClientID: c.ClientID, Conn: c.Conn, Epoch: epochs[i], Reason: string(events.DisconnectClosed)})
		}
		h.appendOps(ends...)
		for _, c := range connects {
			h.marker(c.ClientID)
			got := describe(h.sequence(c.ClientID))
			exp := describeWants([]want{
				{typ: events.SessionCreated, conn: c.Conn}, {typ: events.ClientConnected, conn: c.Conn},
				{typ: events.ClientDisconnected, conn: c.Conn, reason: string(events.DisconnectClosed)}, {typ: events.SessionTerminated, conn: c.Conn, reason: string(events.TerminateNormal)},
			})
			if got != exp {
				t.Fatalf("%s events\n got %s\nwant %s", c.ClientID, got, exp)
			}
			if h.load(c.ClientID).Exists {
				t.Fatalf("%s: session left behind", c.ClientID)
			}
		}
	})
	h.checkEvents()
}
