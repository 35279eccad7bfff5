package frontend

import (
	"fmt"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// dispatch gives each matching session one delivery that aggregates all of
// its matching subscriptions, for few sessions (found by a scan) and for
// many (found through the index), and its scratch state leaks nothing from
// one record into the next.
func TestDispatchAggregatesPerSession(t *testing.T) {
	for _, n := range []int{1, linearFound, linearFound + 1, 50} {
		t.Run(fmt.Sprintf("sessions=%d", n), func(t *testing.T) {
			s := &Server{cfg: Config{Auth: AllowAll{}}}
			r := newRouter()
			conns := make([]*conn, n)
			for i := range conns {
				conns[i] = benchConn(s, fmt.Sprintf("c%d", i))
				r.attach(conns[i], []session.Subscription{
					{Filter: "a/+", QoS: 0, SubID: 1},
					{Filter: "a/#", QoS: 1, SubID: 2},
					{Filter: "b/#", QoS: 2, SubID: 3},
				})
			}
			bystander := benchConn(s, "bystander")
			r.attach(bystander, []session.Subscription{{Filter: "b/x", QoS: 1}})
			for off := range int64(2) {
				rec := publishRecord("mqtt.messages", "pub", &mqtt.Publish{Topic: "a/x", QoS: 2, Payload: []byte("p")}, time.Now())
				rec.Offset = off
				r.dispatch(rec)
				for i, c := range conns {
					live := c.offered()
					if len(live) != 1 {
						t.Fatalf("record %d, session %d: %d deliveries, want 1", off, i, len(live))
					}
					d := live[0]
					ids := slices.Sorted(slices.Values(d.subIDs))
					if d.qos != 1 || !slices.Equal(ids, []uint32{1, 2}) || d.msg.offset != off {
						t.Errorf("record %d, session %d: qos %d subIDs %v offset %d, want qos 1 subIDs [1 2] offset %d",
							off, i, d.qos, ids, d.msg.offset, off)
					}
				}
				if live := bystander.offered(); len(live) != 0 {
					t.Fatalf("the session subscribed to b/x got %d deliveries", len(live))
				}
			}
			for _, f := range r.found[:cap(r.found)] {
				if f.c != nil {
					t.Fatal("dispatch scratch still holds a session")
				}
			}
			if len(r.foundAt) != 0 {
				t.Fatalf("dispatch index holds %d sessions", len(r.foundAt))
			}
		})
	}
}

// A subscription read from a SUBSCRIBE is offered the records dispatched
// shortly before the read that the session was not offered already, and
// only those (router.joinRecent).
func TestJoinRecent(t *testing.T) {
	ms := int64(time.Millisecond)
	type rec struct {
		topic  string
		at     int64 // dispatch time, ms before the join
		retain bool
		client string
	}
	for _, tc := range []struct {
		name string
		// the session's subscriptions before the join, and when they
		// last changed (ms before the join; 0: 500)
		held      []string
		heldAt    int64
		recs      []rec
		join      []session.Subscription
		want      []string // topics offered, in order
		wantFirst int64    // the join's from on partition 0 (-1: the router position)
	}{
		{name: "just before the read", recs: []rec{{topic: "a/1", at: 5}, {topic: "b/1", at: 4}, {topic: "a/2", at: 1}},
			join: []session.Subscription{{Filter: "a/+", QoS: 1}}, want: []string{"a/1", "a/2"}, wantFirst: 0},
		{name: "beyond the lookback", recs: []rec{{topic: "a/1", at: int64(lookback/time.Millisecond) + 1}, {topic: "a/2", at: 1}},
			join: []session.Subscription{{Filter: "a/+", QoS: 1}}, want: []string{"a/2"}, wantFirst: 1},
		{name: "offered already by a held subscription", held: []string{"a/#"}, heldAt: 50,
			recs: []rec{{topic: "a/1", at: 5}}, join: []session.Subscription{{Filter: "a/1", QoS: 1}}, wantFirst: -1},
		{name: "before the session's subscriptions changed", held: []string{"x"}, heldAt: 3,
			recs: []rec{{topic: "a/1", at: 5}, {topic: "a/2", at: 2}}, join: []session.Subscription{{Filter: "a/+", QoS: 1}},
			want: []string{"a/2"}, wantFirst: 1},
		{name: "retained ones come with the SUBACK", recs: []rec{{topic: "a/1", at: 5, retain: true}},
			join: []session.Subscription{{Filter: "a/1", QoS: 1}}, wantFirst: -1},
		{name: "no local", recs: []rec{{topic: "a/1", at: 5, client: "me"}, {topic: "a/1", at: 4, client: "other"}},
			join: []session.Subscription{{Filter: "a/1", QoS: 1, NoLocal: true}}, want: []string{"a/1"}, wantFirst: 1},
		{name: "nothing recent", join: []session.Subscription{{Filter: "a/1", QoS: 1}}, wantFirst: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{Auth: AllowAll{}}}
			r := newRouter()
			var clock int64 = 1000 * ms
			r.now = func() int64 { return clock }
			me := benchConn(s, "me")
			join := clock // the join happens at clock+1000ms
			var held []session.Subscription
			for _, f := range tc.held {
				held = append(held, session.Subscription{Filter: f, QoS: 1})
			}
			heldAt := tc.heldAt
			if heldAt == 0 {
				heldAt = 500 // the connection attached long before
			}
			clock = join + 1000*ms - heldAt*ms
			r.attach(me, held)
			for i, rc := range tc.recs {
				clock = join + 1000*ms - rc.at*ms
				r2 := publishRecord("mqtt.messages", rc.client, &mqtt.Publish{Topic: rc.topic, QoS: 1, Retain: rc.retain, Payload: []byte("p")}, time.Now())
				r2.Offset = int64(i)
				r.dispatch(r2)
			}
			me.offered() // what the held subscriptions got at dispatch
			clock = join + 1000*ms
			from := r.joinRecent(me, tc.join)
			var got []string
			for _, d := range me.offered() {
				got = append(got, d.msg.topic)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("offered %v, want %v", got, tc.want)
			}
			want := tc.wantFirst
			if want < 0 {
				want = int64(len(tc.recs))
			}
			if len(tc.recs) > 0 && from[0] != want {
				t.Errorf("from[0] = %d, want %d", from[0], want)
			}
			// Joined: the next record is dispatched to it.
			next := publishRecord("mqtt.messages", "other", &mqtt.Publish{Topic: tc.join[0].Filter, QoS: 1, Payload: []byte("p")}, time.Now())
			next.Offset = int64(len(tc.recs))
			if tc.join[0].Filter == "a/+" {
				next.Key = []byte("a/9")
			}
			r.dispatch(next)
			if n := len(me.offered()); n != 1 {
				t.Errorf("%d deliveries of the record after the join, want 1", n)
			}
		})
	}
}

// The window of recent records is bounded in count and payload bytes.
func TestRecentRecordsBounded(t *testing.T) {
	var rr recentRecords
	for i := range 10 * recentMax {
		rr.add(&kafkalog.Record{Offset: int64(i), Value: make([]byte, 100)}, 0)
	}
	n := 0
	rr.since(0, func(*kafkalog.Record) { n++ })
	if n > recentMax || rr.bytes > recentBytes || cap(rr.recs) > 4*recentMax {
		t.Fatalf("%d kept, %d bytes, capacity %d", n, rr.bytes, cap(rr.recs))
	}
	big := make([]byte, recentBytes)
	rr.add(&kafkalog.Record{Value: big}, 0)
	n = 0
	rr.since(0, func(*kafkalog.Record) { n++ })
	if n != 1 {
		t.Fatalf("%d kept after a record of the whole byte bound, want just it", n)
	}
}

// The cursor a connection logs never goes below what the session service
// holds, even while a delivery from before the subscription's read (below
// that cursor) is outstanding: replaying from there would send again what
// the client acknowledged.
func TestProgressKeepsTheLoggedCursor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		floor   int64 // logged cursor of partition 0
		holding int64 // offset of the outstanding delivery
		want    int64
	}{
		{"below the logged cursor", 10, 5, 10},
		{"above it", 10, 15, 15},
		{"at it", 10, 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(10)
			o.replaying = false
			o.logged(map[int]int64{0: tc.floor})
			o.addLive(&delivery{msg: &message{partition: 0, offset: tc.holding}, qos: 1})
			cur, _ := o.progress(map[int]int64{0: 20, 1: 3}, nil)
			if cur[0] != tc.want || cur[1] != 3 {
				t.Fatalf("cursor %v, want 0:%d 1:3", cur, tc.want)
			}
		})
	}
}

// TestNoProgressWithoutSubscriptions: a session that subscribes to nothing
// and owes nothing logs no progress however often it is asked (an idle
// connection costs no append); its first subscription asks for one at the
// next tick, so the cursor it resumes from is not older than the
// subscription.
func TestNoProgressWithoutSubscriptions(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "quiet", CleanStart: false, Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(60))}})
	sc := c.serverConn(t, s)
	progressOps := func() int {
		n := 0
		for _, op := range log.ops(t) {
			if op.Kind == session.OpProgress && op.ClientID == "quiet" {
				n++
			}
		}
		return n
	}
	// Once the resume's replay is over, the session owes nothing.
	deadline := time.Now().Add(5 * time.Second)
	for owes := true; owes; {
		sc.inLoop(t, func(c *conn) { owes = c.replaying || !c.out.owesNothing() })
		if time.Now().After(deadline) {
			t.Fatal("the session still owes deliveries")
		}
	}
	sc.opsL.waitIdle(t)
	before := progressOps()
	for range 3 {
		sc.inLoop(t, func(c *conn) { c.tickProgress() })
	}
	sc.opsL.waitIdle(t)
	if n := progressOps() - before; n != 0 {
		t.Fatalf("%d progress ops of a session without subscriptions, want none", n)
	}

	sc.dirty.Store(false) // as the progress loop leaves it after a tick
	subscribe(t, c, 1, mqtt.Subscription{Filter: "quiet/#", QoS: 1})
	if !sc.dirty.Load() {
		t.Fatal("the first subscription did not ask for a progress op")
	}
	sc.inLoop(t, func(c *conn) { c.tickProgress() })
	deadline = time.Now().Add(5 * time.Second)
	for progressOps() == before {
		if time.Now().After(deadline) {
			t.Fatal("no progress op after the first subscription")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until the lane has nothing queued or being appended.
func (l *lane) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !l.idle() {
		if time.Now().After(deadline) {
			t.Fatal("the lane is still busy")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDispatchDelayObserved: every record the router dispatches has its
// age since its PUBLISH was read observed, matched by a session or not.
func TestDispatchDelayObserved(t *testing.T) {
	s, _ := newUnitServer(t, nil)
	age := 40 * time.Millisecond
	for i, name := range []string{"nobody/listens", "t"} {
		s.router.dispatch(&kafkalog.Record{Partition: 0, Offset: int64(i), Key: []byte(name), Value: []byte("x"),
			Time: time.Now().Add(-age)})
	}
	var m dto.Metric
	if err := s.m.dispatchDelay.Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 2 {
		t.Fatalf("%d delays observed, want 2", h.GetSampleCount())
	}
	if mean := h.GetSampleSum() / 2; mean < age.Seconds() || mean > 10 {
		t.Fatalf("mean delay %.3fs, want at least %s", mean, age)
	}
}
