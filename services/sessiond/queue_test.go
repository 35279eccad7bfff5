package sessiond

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// msg is a record for the messages topic as a frontend writes it.
type msg struct {
	topic   string
	qos     int
	from    string // publisher ClientID
	expires time.Duration
}

func (h *harness) publish(ms ...msg) []*kafkalog.Record {
	h.t.Helper()
	recs := h.messageRecords(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.app.Append(ctx, recs...); err != nil {
		h.t.Fatal(err)
	}
	return recs
}

// messageRecords builds the records of ms as a frontend writes them.
func (h *harness) messageRecords(ms ...msg) []*kafkalog.Record {
	recs := make([]*kafkalog.Record, len(ms))
	for i, m := range ms {
		hs := []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte(strconv.Itoa(m.qos))}, {Key: kafkalog.HeaderClient, Value: []byte(m.from)}}
		if m.expires != 0 {
			hs = append(hs, kafkalog.Header{Key: kafkalog.HeaderExpires, Value: []byte(strconv.FormatInt(time.Now().Add(m.expires).UnixMilli(), 10))})
		}
		recs[i] = &kafkalog.Record{Topic: h.topics.Messages, Key: []byte(m.topic), Value: []byte("payload"), Headers: hs}
	}
	return recs
}

// cursorNow is the cursor of a client that has seen everything so far.
func (h *harness) cursorNow() map[int]int64 {
	h.t.Helper()
	bs, err := kafkalog.TopicBounds(context.Background(), h.kafka, h.topics.Messages)
	if err != nil {
		h.t.Fatal(err)
	}
	c := map[int]int64{}
	for p, b := range bs {
		c[p] = b.Next
	}
	return c
}

func sortRefs(refs []session.QueueRef) []session.QueueRef {
	refs = slices.Clone(refs)
	slices.SortFunc(refs, func(a, b session.QueueRef) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
	return refs
}

// goOffline connects cid persistently with subs, reports a cursor at the
// current end of the messages topic, publishes early (seen by the client
// as undelivered: after the cursor) and disconnects.
func (h *harness) goOffline(cid string, subs []session.Subscription, early ...msg) []*kafkalog.Record {
	h.t.Helper()
	a, _ := h.connect(cid, connID(cid, "A"), false, 5, 600)
	a.send(&session.Op{Kind: session.OpSubscribe, Subs: subs})
	a.send(&session.Op{Kind: session.OpProgress, Cursor: h.cursorNow()})
	recs := h.publish(early...)
	a.disconnect(events.DisconnectNormal, 600)
	h.marker(cid)
	return recs
}

// TestOfflineQueue: messages for an offline persistent session are
// queued as refs with the delivered QoS, both those published before the
// service saw the session go offline (catch-up) and after (live), with No
// Local, QoS 0 and message expiry applied.
func TestOfflineQueue(t *testing.T) { offlineQueue(t, newHarness(t)) }

func offlineQueue(t *testing.T, h *harness) {
	h.start(nil)
	const cid = "queued"
	subs := []session.Subscription{{Filter: "q/#", QoS: 1}, {Filter: "nl/+", QoS: 2, NoLocal: true}}
	published := []msg{
		{topic: "q/a", qos: 1, from: "p"},                          // queued qos 1
		{topic: "q/b", qos: 2, from: "p"},                          // queued qos min(2,1)=1
		{topic: "other", qos: 1, from: "p"},                        // no match
		{topic: "nl/x", qos: 2, from: cid},                         // no local
		{topic: "nl/y", qos: 2, from: "p"},                         // queued qos 2
		{topic: "q/c", qos: 0, from: "p"},                          // queued qos 0
		{topic: "q/exp", qos: 1, from: "p", expires: -time.Second}, // expired: dropped
	}
	wantQoS := []int{1, 1, -1, -1, 2, 0, -1}
	early := h.goOffline(cid, subs, published...)
	late := h.publish(published...)
	var want []session.QueueRef
	for _, recs := range [][]*kafkalog.Record{early, late} {
		for i, r := range recs {
			if wantQoS[i] >= 0 {
				want = append(want, session.QueueRef{Partition: r.Partition, Offset: r.Offset, QoS: byte(wantQoS[i])})
			}
		}
	}
	eventually(t, "queue filled", func() (bool, error) { return len(h.load(cid).Queue) >= len(want), nil })
	st := h.load(cid)
	if got := sortRefs(st.Queue); !slices.Equal(got, sortRefs(want)) {
		t.Fatalf("queue\n got %v\nwant %v", got, sortRefs(want))
	}
	// Per partition, refs are in log order.
	last := map[int]int64{}
	for _, r := range st.Queue {
		if o, ok := last[r.Partition]; ok && r.Offset <= o {
			t.Fatalf("queue out of log order: %v", st.Queue)
		}
		last[r.Partition] = r.Offset
	}
	// Two expired messages, two drop events with reason expired.
	evs := h.waitFor(cid, func(evs []events.Envelope) bool { return countDrops(evs, events.DropExpired) == 2 })
	if n := countDrops(evs, events.DropQueueFull); n != 0 {
		t.Fatalf("unexpected queue_full drops: %d", n)
	}
	// Reconnecting stops queueing: a message published afterwards is not queued.
	b, st := h.connect(cid, connID(cid, "B"), false, 5, 600)
	if !st.Present || len(st.Queue) != len(want) {
		t.Fatalf("resume: present=%v queue=%d", st.Present, len(st.Queue))
	}
	h.publish(msg{topic: "q/online", qos: 1, from: "p"})
	b.send(&session.Op{Kind: session.OpProgress, Cursor: h.cursorNow()})
	h.marker(cid)
	if n := len(h.load(cid).Queue); n != len(want) {
		t.Fatalf("queue grew while online: %d", n)
	}
	h.checkEvents()
}

func countDrops(evs []events.Envelope, reason events.DropReason) int64 {
	var n int64
	for _, e := range evs {
		if d, ok := e.Data.(*events.MessageDropped); ok && d.Reason == reason {
			n += d.Count
		}
	}
	return n
}

// TestOfflineQueueBound: beyond MaxQueued the oldest refs are dropped and
// every drop is announced.
func TestOfflineQueueBound(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *Config) { c.MaxQueued = 3 })
	const cid = "bounded"
	h.goOffline(cid, []session.Subscription{{Filter: "b/t", QoS: 1}})
	var ms []msg
	for range 5 {
		ms = append(ms, msg{topic: "b/t", qos: 1, from: "p"})
	}
	recs := h.publish(ms...)
	evs := h.waitFor(cid, func(evs []events.Envelope) bool { return countDrops(evs, events.DropQueueFull) == 2 })
	st := h.load(cid)
	var want []session.QueueRef
	for _, r := range recs[2:] {
		want = append(want, session.QueueRef{Partition: r.Partition, Offset: r.Offset, QoS: 1})
	}
	if !slices.Equal(st.Queue, want) {
		t.Fatalf("queue %v want %v", st.Queue, want)
	}
	for _, e := range evs {
		if d, ok := e.Data.(*events.MessageDropped); ok && (d.From < recs[0].Offset || d.To > recs[2].Offset) {
			t.Fatalf("drop range [%d,%d) outside the two oldest", d.From, d.To)
		}
	}
	h.checkEvents()
}

// TestQueueFollowerPassesWhileNoneListens: while no offline session of the
// instance subscribes to anything, the queue follower passes over the
// messages topic unread; a session that goes offline with subscriptions
// then gets every message after its cursor queued (those published while
// it was being registered, and those after), and once it is back online
// the follower passes again.
func TestQueueFollowerPassesWhileNoneListens(t *testing.T) {
	h := newHarness(t)
	in := h.start(nil)
	passed := func() float64 { return testutil.ToFloat64(in.svc.met.passed) }
	var nobody []msg
	for i := range 20 {
		nobody = append(nobody, msg{topic: "q/" + strconv.Itoa(i), qos: 1, from: "p"})
	}
	h.publish(nobody...)
	eventually(t, "20 records passed", func() (bool, error) { return passed() >= 20, nil })

	const cid = "listener"
	subs := []session.Subscription{{Filter: "q/#", QoS: 1}}
	early := h.goOffline(cid, subs, nobody[:5]...)
	var late []*kafkalog.Record
	for range 10 {
		late = append(late, h.publish(nobody[:3]...)...)
	}
	var want []session.QueueRef
	for _, r := range append(early, late...) {
		want = append(want, session.QueueRef{Partition: r.Partition, Offset: r.Offset, QoS: 1})
	}
	eventually(t, "queue filled", func() (bool, error) { return len(h.load(cid).Queue) >= len(want), nil })
	if got := sortRefs(h.load(cid).Queue); !slices.Equal(got, sortRefs(want)) {
		t.Fatalf("queue\n got %v\nwant %v", got, sortRefs(want))
	}
	if n := testutil.ToFloat64(in.svc.met.queued); n != float64(len(want)) {
		t.Errorf("%v refs queued in all, want %d: nothing while nobody listened", n, len(want))
	}

	b, _ := h.connect(cid, connID(cid, "B"), false, 5, 600)
	b.send(&session.Op{Kind: session.OpProgress, Cursor: h.cursorNow()})
	h.marker(cid)
	// A long poll the follower sent while the session was offline may
	// still bring the first new records in the usual way: keep publishing
	// until the follower, idle again, passes over some.
	before := passed()
	eventually(t, "records passed again", func() (bool, error) {
		h.publish(nobody[0])
		return passed() > before, nil
	})
	h.checkEvents()
}

// TestQueueFollowerPassStress: while messages are published without a
// pause, persistent sessions go offline one after another and come back,
// so the queue follower keeps switching between passing over the log and
// reading it. Each session's queue, read when it comes back, must hold
// every record from its cursor on without a gap (all of them match), in
// every partition, at least up to what was published while it was away:
// a pass that moved past a record a session needed would leave a hole.
func TestQueueFollowerPassStress(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	// The publisher goroutine reports instead of failing the test (only
	// the test's goroutine may), and is joined on every way out.
	stop := make(chan struct{})
	var (
		published int
		pubErr    error
	)
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; i < 5000; i++ { // bounded: about 10 s at most
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			pubErr = h.app.Append(ctx, h.messageRecords(msg{topic: "s/" + strconv.Itoa(i%8), qos: 1, from: "p"})...)
			cancel()
			if pubErr != nil {
				return
			}
			published++
		}
	}()
	var stopOnce sync.Once
	stopPublishing := func() {
		stopOnce.Do(func() { close(stop); <-pubDone })
	}
	defer stopPublishing()
	subs := []session.Subscription{{Filter: "s/#", QoS: 1}}
	checked := 0
	for i := range 6 {
		cid := "stress-" + strconv.Itoa(i)
		a, _ := h.connect(cid, connID(cid, "A"), false, 5, 600)
		a.send(&session.Op{Kind: session.OpSubscribe, Subs: subs})
		cursor := h.cursorNow()
		a.send(&session.Op{Kind: session.OpProgress, Cursor: cursor})
		a.disconnect(events.DisconnectNormal, 600)
		time.Sleep(time.Duration(50+40*i) * time.Millisecond) // offline while messages flow
		// Everything published up to now must reach the queue while the
		// session is offline.
		mark := h.cursorNow()
		eventually(t, cid+" queue caught up", func() (bool, error) {
			n := map[int]int64{}
			for _, q := range h.load(cid).Queue {
				n[q.Partition]++
			}
			for p, m := range mark {
				if n[p] < m-cursor[p] {
					return false, nil
				}
			}
			return true, nil
		})
		_, st := h.connect(cid, connID(cid, "B"), false, 5, 600)
		byPart := map[int][]int64{}
		for _, q := range st.Queue {
			byPart[q.Partition] = append(byPart[q.Partition], q.Offset)
		}
		for p, offs := range byPart {
			slices.Sort(offs)
			if offs[0] < cursor[p] {
				t.Errorf("%s: partition %d queued offset %d below the cursor %d", cid, p, offs[0], cursor[p])
			}
			for j, o := range offs {
				if want := cursor[p] + int64(j); o != want {
					t.Fatalf("%s: partition %d: queued %v, a gap at %d (cursor %d)", cid, p, offs, want, cursor[p])
				}
			}
			checked += len(offs)
		}
	}
	stopPublishing()
	if pubErr != nil {
		t.Fatalf("publishing: %v", pubErr)
	}
	if published == 0 {
		t.Fatal("nothing published")
	}
	if checked == 0 {
		t.Fatal("no session had anything queued: the test checked nothing")
	}
	t.Logf("%d queued refs checked", checked)
}
