package sessiond

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// frontendHeart beats on the harness's nodes topic as a frontend would,
// until the returned stop is called.
func (h *harness) frontendHeart(node string) (*liveness.Heart, func()) {
	h.t.Helper()
	heart := liveness.NewHeart(h.app, liveness.HeartConfig{Topic: h.topics.WithDefaults().Nodes, Node: node,
		Role: liveness.RoleFrontend, Interval: 200 * time.Millisecond, Brokers: h.kafka, Logger: quietLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { heart.Run(ctx) })
	stop := sync.OnceFunc(func() { cancel(); wg.Wait() })
	h.t.Cleanup(stop)
	select {
	case <-heart.Announced():
	case <-time.After(30 * time.Second):
		h.t.Fatalf("%s not announced", node)
	}
	return heart, stop
}

// connectOp appends a connect op as given (incarnation, will) and waits
// until it is applied.
func (h *harness) connectOp(o *session.Op) *conn {
	h.t.Helper()
	o.Kind = session.OpConnect
	if o.Peer == "" {
		o.Peer = "127.0.0.1:5"
	}
	epoch := h.op(o)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.reader.WaitApplied(ctx, partOf(o.ClientID), o.ClientID, epoch); err != nil {
		h.t.Fatalf("wait connect %s applied: %v", o.ClientID, err)
	}
	return &conn{h: h, cid: o.ClientID, id: o.Conn, epoch: epoch, proto: o.Proto}
}

// willsLogged returns the will records of the harness's messages topic,
// by will topic.
func (h *harness) willsLogged() map[string][]*kafkalog.Record {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bounds, err := kafkalog.TopicBounds(ctx, h.kafka, h.topics.Messages)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]*kafkalog.Record{}
	for p, b := range bounds {
		err := kafkalog.ReadRange(ctx, h.kafka, h.topics.Messages, p, b.First, b.Next, func(r *kafkalog.Record) error {
			if _, ok := r.Header(kafkalog.HeaderWill); ok {
				out[string(r.Key)] = append(out[string(r.Key)], r)
			}
			return nil
		})
		if err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

// hasEvent is a waitFor condition: an event of kind with that reason (or
// will trigger).
func hasEvent(kind events.Type, reason string) func([]events.Envelope) bool {
	return func(evs []events.Envelope) bool {
		for _, e := range evs {
			if w := summarize(e); w.typ == kind && w.reason == reason {
				return true
			}
		}
		return false
	}
}

// TestNodeDown: a frontend incarnation that stops beating is declared down
// after the node timeout; the sessions it held end as connections closed
// without DISCONNECT (reason node_down): a clean one is terminated and
// gone, a persistent one goes offline with its expiry counted from the
// last beat, and their wills are published, the delayed one after its
// delay. Sessions of a live frontend are left alone, and a connect the
// dead incarnation logs afterwards is ignored.
func TestNodeDown(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *Config) { c.NodeTimeout = 2 * time.Second })
	dead, stopDead := h.frontendHeart("fe-dead")
	alive, _ := h.frontendHeart("fe-alive")
	inc := dead.Inc()
	clean := h.connectOp(&session.Op{ClientID: "nd-clean", Conn: connID("nd-clean", "A"), Node: "fe-dead", Inc: inc, Proto: 4, Clean: true,
		Will: &session.Will{Topic: "will/nd-clean", Payload: []byte("clean gone"), QoS: 1}})
	persist := h.connectOp(&session.Op{ClientID: "nd-persist", Conn: connID("nd-persist", "A"), Node: "fe-dead", Inc: inc, Proto: 5, Expiry: 600,
		Will: &session.Will{Topic: "will/nd-persist", Payload: []byte("persist gone"), QoS: 1, Delay: 1}})
	h.connectOp(&session.Op{ClientID: "nd-other", Conn: connID("nd-other", "A"), Node: "fe-alive", Inc: alive.Inc(), Proto: 4, Clean: true,
		Will: &session.Will{Topic: "will/nd-other", Payload: []byte("no")}})
	// Taken over from the dead incarnation before it died: whether that
	// connection got its CONNACK only its frontend knew, and it never said.
	takenA := h.connectOp(&session.Op{ClientID: "nd-taken", Conn: connID("nd-taken", "A"), Node: "fe-dead", Inc: inc, Proto: 5, Expiry: 600,
		Will: &session.Will{Topic: "will/nd-taken", Payload: []byte("taken gone"), QoS: 1}})
	takenB := h.connectOp(&session.Op{ClientID: "nd-taken", Conn: connID("nd-taken", "B"), Node: "fe-alive", Inc: alive.Inc(), Proto: 5, Expiry: 600})

	stopDead()
	stopped := time.Now()
	evs := h.waitFor(clean.cid, hasEvent(events.SessionTerminated, "node_down"))
	observed := time.Now()
	wants := []want{
		{typ: events.SessionCreated, conn: clean.id}, {typ: events.ClientConnected, conn: clean.id},
		{typ: events.ClientDisconnected, conn: clean.id, reason: "node_down"}, {typ: events.SessionWillPublished, conn: clean.id, reason: "connection_ended"},
		{typ: events.SessionTerminated, conn: clean.id, reason: "node_down"},
	}
	if got := describe(evs); got != describeWants(wants) {
		t.Fatalf("clean session: %s\nwant %s", got, describeWants(wants))
	}
	// The last beat was written before the heart stopped, and heard no
	// earlier than written: a declaration on time is seen at least the
	// node timeout after it (measured from stopped, a beat heard just
	// before the stop made this fail now and then).
	lastAlive := evs[2].Time
	if lastAlive.After(stopped) {
		t.Fatalf("disconnected at %v, after the last beat at %v", lastAlive, stopped)
	}
	if d := observed.Sub(lastAlive); d < 2*time.Second {
		t.Fatalf("declared down %v after the last beat, before the node timeout", d)
	}
	eventually(t, "clean session gone", func() (bool, error) { return !h.load(clean.cid).Exists, nil })

	evs = h.waitFor(persist.cid, hasEvent(events.SessionWillPublished, string(events.WillDelayElapsed)))
	wants = []want{
		{typ: events.SessionCreated, conn: persist.id}, {typ: events.ClientConnected, conn: persist.id},
		{typ: events.ClientDisconnected, conn: persist.id, reason: "node_down"}, {typ: events.SessionWillPublished, conn: persist.id, reason: "delay_elapsed"},
	}
	if got := describe(evs); got != describeWants(wants) {
		t.Fatalf("persistent session: %s\nwant %s", got, describeWants(wants))
	}
	if d := evs[3].Time.Sub(evs[2].Time); d < time.Second {
		t.Fatalf("delayed will published %v after the end, before its 1s delay", d)
	}
	// Events are appended before Redis shows their ops.
	eventually(t, "persistent session offline, its will gone", func() (bool, error) {
		st := h.load(persist.cid)
		return st.Exists && !st.Meta.Online && st.Meta.ExpiresAt == evs[2].Time.UnixMilli()+600_000 && st.Meta.Will == nil, nil
	})

	// The taken-over connection's will waited for its end: the node_down.
	evs = h.waitFor(takenA.cid, hasEvent(events.SessionWillPublished, string(events.WillConnectionEnded)))
	wants = []want{
		{typ: events.SessionCreated, conn: takenA.id}, {typ: events.ClientConnected, conn: takenA.id},
		{typ: events.ClientDisconnected, conn: takenA.id, reason: "takenover"},
		{typ: events.SessionResumed, conn: takenB.id}, {typ: events.ClientConnected, conn: takenB.id, present: true},
		{typ: events.SessionWillPublished, conn: takenA.id, reason: "connection_ended"},
	}
	if got := describe(evs); got != describeWants(wants) {
		t.Fatalf("taken-over connection: %s\nwant %s", got, describeWants(wants))
	}
	if w := evs[5].Data.(*events.WillPublished); w.Node != "fe-dead" {
		t.Fatalf("will published by %s, want on the node_down of fe-dead", w.Node)
	}
	eventually(t, "superseded will settled, the dead incarnation let go", func() (bool, error) {
		st := h.load(takenA.cid)
		return st.Exists && st.Meta.Online && len(st.Meta.Superseded) == 0 && !st.Meta.Holds(inc), nil
	})

	// The dead incarnation's late connect (it was only cut off) owns
	// nothing; the live frontend's session was not touched.
	h.op(&session.Op{Kind: session.OpConnect, ClientID: "nd-late", Conn: connID("nd-late", "A"), Node: "fe-dead", Inc: inc, Proto: 4, Clean: true})
	h.marker("nd-late")
	h.marker("nd-other")
	if evs := h.sequence("nd-late"); len(evs) != 0 || h.load("nd-late").Exists {
		t.Fatalf("connect of a dead incarnation applied: %s", describe(evs))
	}
	if st := h.load("nd-other"); !st.Exists || !st.Meta.Online || len(h.sequence("nd-other")) != 2 {
		t.Fatalf("live frontend's session touched: %+v %s", st.Meta, describe(h.sequence("nd-other")))
	}
	logged := h.willsLogged()
	for topic, n := range map[string]int{"will/nd-clean": 1, "will/nd-persist": 1, "will/nd-other": 0, "will/nd-taken": 1} {
		if len(logged[topic]) != n {
			t.Errorf("%s: %d will records, want %d", topic, len(logged[topic]), n)
		}
	}
	h.checkEvents()
}

// TestNodeRestartDeclaresAtOnce: a new incarnation of the same node name
// ends the old one's sessions at once, without waiting for the timeout.
func TestNodeRestartDeclaresAtOnce(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *Config) { c.NodeTimeout = time.Hour })
	heart, _ := h.frontendHeart("fe-r")
	c := h.connectOp(&session.Op{ClientID: "restart-1", Conn: connID("restart-1", "A"), Node: "fe-r", Inc: heart.Inc(), Proto: 5, Expiry: 60})
	heart.Renew()
	h.waitFor(c.cid, hasEvent(events.ClientDisconnected, "node_down"))
	eventually(t, "session offline", func() (bool, error) { st := h.load(c.cid); return st.Exists && !st.Meta.Online, nil })
	h.checkEvents()
}
