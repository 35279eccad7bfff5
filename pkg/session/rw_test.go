package session_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// TestReaderWriter runs every Reader/Writer test against miniredis (always,
// as the standalone broker uses it) and against the real Redis of the test
// stack (when configured).
func TestReaderWriter(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T, *redis.Client)
	}{
		{"WaitApplied", testWaitApplied},
		{"EnqueueDropsOldest", testEnqueueDropsOldest},
		{"DeleteRemovesEverything", testDeleteRemovesEverything},
		{"ApplyBatchRecordsEachOffset", testApplyBatchRecordsEachOffset},
		{"ApplyBatchFencing", testApplyBatchFencing},
		{"IncarnationIndex", testIncarnationIndex},
		{"DelayedWill", testDelayedWill},
		{"WillMarks", testWillMarks},
	}
	backends := []struct {
		name   string
		client func(*testing.T) *redis.Client
	}{
		{"miniredis", func(t *testing.T) *redis.Client {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { rdb.Close() })
			return rdb
		}},
		{"redis", func(t *testing.T) *redis.Client { return redistest.Client(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.client(t)) })
			}
		})
	}
}

func testWaitApplied(t *testing.T, rdb *redis.Client) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	r := session.NewReaderOptions(rdb, opt)
	ctx := context.Background()

	// The connect at epoch 10 is applied while the reader waits.
	done := make(chan error, 1)
	var st session.State
	go func() {
		var err error
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err = r.WaitApplied(wctx, "c1", 10)
		done <- err
	}()
	err := w.Apply(ctx, 2, 10, func(tx *session.Tx) {
		tx.PutSession("c1", &session.Meta{Epoch: 10, Conn: "u", Online: true, Present: true, Expiry: 60})
		tx.PutSubs("c1", session.Subscription{Filter: "a/#", QoS: 1})
		tx.MergeCursor("c1", map[int]int64{0: 4})
		tx.PutInflight("c1", session.Inflight{PacketID: 9, Partition: 0, Offset: 3, QoS: 2, State: session.InflightPubrec})
		tx.AddQoS2In("c1", 5)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !st.Present || st.Epoch != 10 || st.Meta.Partition != 2 || st.Meta.Applied != 10 {
		t.Fatalf("state %+v", st)
	}
	if !reflect.DeepEqual(st.Subscriptions, []session.Subscription{{Filter: "a/#", QoS: 1}}) ||
		st.Cursor[0] != 4 || len(st.Inflight) != 1 || st.Inflight[0].PacketID != 9 || !reflect.DeepEqual(st.QoS2In, []uint16{5}) {
		t.Fatalf("state %+v", st)
	}
	if off, ok, err := w.Applied(ctx, 2); err != nil || !ok || off != 10 {
		t.Fatalf("applied %d %v %v", off, ok, err)
	}

	cases := []struct {
		name  string
		epoch int64
		want  error
	}{
		{"superseded", 9, session.ErrSuperseded},
		{"not yet applied", 11, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_, err := r.WaitApplied(wctx, "c1", tc.epoch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
		})
	}
}

func testEnqueueDropsOldest(t *testing.T, rdb *redis.Client) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	ctx := context.Background()
	var refs []session.QueueRef
	for i := range 5 {
		refs = append(refs, session.QueueRef{Partition: 1, Offset: int64(i), QoS: 1})
	}
	dropped, n, err := w.Enqueue(ctx, "c", refs[:3], map[int]int64{1: 3}, 4)
	if err != nil || len(dropped) != 0 || n != 3 {
		t.Fatalf("dropped %v err %v", dropped, err)
	}
	dropped, n, err = w.Enqueue(ctx, "c", refs[3:], map[int]int64{1: 5}, 4)
	if err != nil || n != 4 {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dropped, refs[:1]) {
		t.Fatalf("dropped %v", dropped)
	}
	st, err := w.Load(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	// No session hash: Load reports nothing, but the raw queue is trimmed.
	if st.Epoch != 0 {
		t.Fatalf("state %+v", st)
	}
	if n, _ := w.QueueLen(ctx, "c"); n != 4 {
		t.Fatalf("queue length %d", n)
	}
}

func testDeleteRemovesEverything(t *testing.T, rdb *redis.Client) {
	prefix := redistest.Prefix(t, rdb)
	w := session.NewWriter(rdb, session.Options{Prefix: prefix})
	ctx := context.Background()
	if err := w.Apply(ctx, 0, 1, func(tx *session.Tx) {
		tx.PutSession("c", &session.Meta{Epoch: 1, Online: false, ExpiresAt: 1000})
		tx.PutSubs("c", session.Subscription{Filter: "x"})
		tx.ResetQueue("c", map[int]int64{0: 1})
	}); err != nil {
		t.Fatal(err)
	}
	if due, _ := w.Due(ctx, 0, 1000); len(due) != 1 {
		t.Fatalf("due %v", due)
	}
	if err := w.Apply(ctx, 0, 2, func(tx *session.Tx) { tx.Delete("c") }); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys, []string{prefix + "applied:0"}) {
		t.Fatalf("keys left %v", keys)
	}
}

func testApplyBatchRecordsEachOffset(t *testing.T, rdb *redis.Client) {
	w := session.NewWriter(rdb, session.Options{Prefix: redistest.Prefix(t, rdb)})
	ctx := context.Background()
	err := w.ApplyBatch(ctx, 1, "", []session.Step{
		{Offset: 4, Fn: func(tx *session.Tx) { tx.PutSession("a", &session.Meta{Epoch: 4, Online: true}) }},
		{Offset: 5, Fn: func(tx *session.Tx) { tx.PutSession("b", &session.Meta{Epoch: 5, Online: true}) }},
		{Offset: 6},
		{Offset: 7, Fn: func(tx *session.Tx) { tx.Touch("a") }},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cid     string
		applied int64
	}{{"a", 7}, {"b", 5}}
	for _, c := range cases {
		m, err := w.Meta(ctx, c.cid)
		if err != nil || m == nil || m.Applied != c.applied || m.Partition != 1 {
			t.Fatalf("%s: %+v %v", c.cid, m, err)
		}
	}
	if off, ok, _ := w.Applied(ctx, 1); !ok || off != 7 {
		t.Fatalf("applied %d", off)
	}
	// Metas reads the same hashes in one round trip; no session is nil.
	metas, err := w.Metas(ctx, []string{"a", "b", "none"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		one, _ := w.Meta(ctx, c.cid)
		if m := metas[c.cid]; m == nil || *m != *one {
			t.Fatalf("Metas[%s] = %+v, Meta = %+v", c.cid, m, one)
		}
	}
	if m, ok := metas["none"]; !ok || m != nil {
		t.Fatalf("Metas[none] = %+v, %v; want nil, true", m, ok)
	}
}

func testApplyBatchFencing(t *testing.T, rdb *redis.Client) {
	w := session.NewWriter(rdb, session.Options{Prefix: redistest.Prefix(t, rdb)})
	ctx := context.Background()
	put := func(off int64) []session.Step {
		return []session.Step{{Offset: off, Fn: func(tx *session.Tx) { tx.PutSession("c", &session.Meta{Epoch: off}) }}}
	}
	cases := []struct {
		name  string
		claim string // claimed before the write; "" leaves the claim as is
		owner string
		want  error
	}{
		{"unclaimed", "", "a", session.ErrNotOwner},
		{"owner writes", "a", "a", nil},
		{"stale owner after a new claim", "b", "a", session.ErrNotOwner},
		{"new owner writes", "", "b", nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.claim != "" {
				if err := w.Claim(ctx, 0, tc.claim); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := w.Meta(ctx, "c")
			err := w.ApplyBatch(ctx, 0, tc.owner, put(int64(10+i)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
			after, _ := w.Meta(ctx, "c")
			if changed := !reflect.DeepEqual(before, after); changed != (tc.want == nil) {
				t.Fatalf("changed=%v with error %v", changed, err)
			}
		})
	}
}

// testIncarnationIndex: the sessions held by a frontend incarnation are
// found by a node_down, which then forgets the incarnation except as down.
func testIncarnationIndex(t *testing.T, rdb *redis.Client) {
	w := session.NewWriter(rdb, session.Options{Prefix: redistest.Prefix(t, rdb)})
	ctx := context.Background()
	const day = 24 * 60 * 60 * 1000
	err := w.ApplyBatch(ctx, 2, "", []session.Step{
		{Offset: 1, Fn: func(tx *session.Tx) {
			tx.Hold("a", "inc-1", "fe-1")
			tx.Hold("b", "inc-1", "fe-1")
			tx.Hold("c", "inc-2", "fe-2")
		}},
		{Offset: 2, Fn: func(tx *session.Tx) { tx.Release("b", "inc-1"); tx.Hold("x", "", "fe-3") }},
		{Offset: 3, Fn: func(tx *session.Tx) { tx.NodeDown("inc-old", 1) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	incs, err := w.Incarnations(ctx, 2)
	if err != nil || !reflect.DeepEqual(incs, map[string]string{"inc-1": "fe-1", "inc-2": "fe-2"}) {
		t.Fatalf("incarnations %v %v", incs, err)
	}
	if held, err := w.Held(ctx, 2, "inc-1"); err != nil || !reflect.DeepEqual(held, []string{"a"}) {
		t.Fatalf("held by inc-1: %v %v", held, err)
	}
	// A declaration ends the incarnation's index; one older than the
	// partition's memory of declarations is forgotten.
	if err := w.Apply(ctx, 2, 4, func(tx *session.Tx) { tx.NodeDown("inc-1", 8*day) }); err != nil {
		t.Fatal(err)
	}
	incs, _ = w.Incarnations(ctx, 2)
	held, _ := w.Held(ctx, 2, "inc-1")
	down, err := w.Down(ctx, 2)
	if err != nil || !reflect.DeepEqual(incs, map[string]string{"inc-2": "fe-2"}) || len(held) != 0 || !reflect.DeepEqual(down, map[string]bool{"inc-1": true}) {
		t.Fatalf("after node down: incarnations %v, held %v, down %v %v", incs, held, down, err)
	}
}

// testDelayedWill: a pending will lives in the session hash and is due in
// the partition's will set while the session is offline.
func testDelayedWill(t *testing.T, rdb *redis.Client) {
	w := session.NewWriter(rdb, session.Options{Prefix: redistest.Prefix(t, rdb)})
	ctx := context.Background()
	will := &session.Will{Topic: "w/t", Payload: []byte{0, 'x'}, QoS: 1, Retain: true, Props: []byte{1, 1}, Delay: 5}
	put := func(off int64, online bool, due int64) {
		t.Helper()
		m := &session.Meta{Epoch: 1, Online: online, Will: will, WillDue: due, WillParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Inc: "i"}
		if err := w.Apply(ctx, 0, off, func(tx *session.Tx) { tx.PutSession("c", m) }); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name         string
		online       bool
		due, now     int64
		wantDue      []string
		wantPending  int64
		deleteBefore bool
	}{
		{"online: armed, not scheduled", true, 0, 100, nil, 0, false},
		{"offline, not yet due", false, 500, 100, nil, 1, false},
		{"offline, due", false, 500, 500, []string{"c"}, 1, false},
		{"deleted", false, 500, 500, nil, 0, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			put(int64(10+2*i), tc.online, tc.due)
			if tc.deleteBefore {
				if err := w.Apply(ctx, 0, int64(11+2*i), func(tx *session.Tx) { tx.Delete("c") }); err != nil {
					t.Fatal(err)
				}
			} else if m, err := w.Meta(ctx, "c"); err != nil || !reflect.DeepEqual(m.Will, will) || m.WillDue != tc.due || m.Inc != "i" || m.WillParent == "" {
				t.Fatalf("meta %+v %v", m, err)
			}
			due, err := w.DueWills(ctx, 0, tc.now)
			if err != nil || !slices.Equal(due, tc.wantDue) {
				t.Fatalf("due %v %v, want %v", due, err, tc.wantDue)
			}
			if n, err := w.PendingWills(ctx, 0); err != nil || n != tc.wantPending {
				t.Fatalf("pending %d %v, want %d", n, err, tc.wantPending)
			}
		})
	}
}

// testWillMarks: marks written before a will's append are found again
// until the run's transaction removes them.
func testWillMarks(t *testing.T, rdb *redis.Client) {
	w := session.NewWriter(rdb, session.Options{Prefix: redistest.Prefix(t, rdb)})
	ctx := context.Background()
	marks := map[string]session.WillMark{"id-1": {Partition: 3, From: 40}, "id-2": {Partition: 0, From: 0}}
	if err := w.MarkWills(ctx, 1, marks); err != nil {
		t.Fatal(err)
	}
	got, err := w.WillMarks(ctx, 1, []string{"id-1", "id-2", "id-3"})
	if err != nil || !reflect.DeepEqual(got, marks) {
		t.Fatalf("marks %v %v", got, err)
	}
	if err := w.Apply(ctx, 1, 9, func(tx *session.Tx) { tx.UnmarkWills("id-1", "id-2") }); err != nil {
		t.Fatal(err)
	}
	if got, err := w.WillMarks(ctx, 1, []string{"id-1", "id-2"}); err != nil || len(got) != 0 {
		t.Fatalf("marks after the run %v %v", got, err)
	}
}
