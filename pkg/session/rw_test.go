package session_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
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
		fn   func(*testing.T, redis.UniversalClient)
	}{
		{"WaitApplied", testWaitApplied},
		{"AppliedAnnounced", testAppliedAnnounced},
		{"QueueViews", testQueueViews},
		{"EnqueueDropsOldest", testEnqueueDropsOldest},
		{"DeleteRemovesEverything", testDeleteRemovesEverything},
		{"ApplyBatchRecordsEachOffset", testApplyBatchRecordsEachOffset},
		{"ApplyBatchFencing", testApplyBatchFencing},
		{"PageWhileSessionsComeAndGo", testPageWhileSessionsComeAndGo},
		{"MetaKeepsConnectDetails", testMetaKeepsConnectDetails},
		{"IndexPartitionBackfills", testIndexPartitionBackfills},
		{"IncarnationIndex", testIncarnationIndex},
		{"DelayedWill", testDelayedWill},
		{"WillMarks", testWillMarks},
	}
	backends := append([]redistest.Backend{{Name: "miniredis", Client: func(t testing.TB) redis.UniversalClient {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}}}, redistest.Backends()...)
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.Client(t)) })
			}
		})
	}
}

func testWaitApplied(t *testing.T, rdb redis.UniversalClient) {
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
		st, err = r.WaitApplied(wctx, 2, "c1", 10)
		done <- err
	}()
	err := applyOne(ctx, w, 2, 10, func(tx *session.Tx) {
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
			_, err := r.WaitApplied(wctx, 2, "c1", tc.epoch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
		})
	}
}

// applyOne applies one op's changes at offset, as a run of one op with no
// owner check.
func applyOne(ctx context.Context, w *session.Writer, partition int, offset int64, fn func(*session.Tx)) error {
	return w.ApplyBatch(ctx, partition, "", []session.Step{{Offset: offset, Fn: fn}})
}

func testEnqueueDropsOldest(t *testing.T, rdb redis.UniversalClient) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	ctx := context.Background()
	var refs []session.QueueRef
	for i := range 5 {
		refs = append(refs, session.QueueRef{Partition: 1, Offset: int64(i), QoS: 1})
	}
	dropped, n, err := w.Enqueue(ctx, 1, "c", refs[:3], map[int]int64{1: 3}, 4)
	if err != nil || len(dropped) != 0 || n != 3 {
		t.Fatalf("dropped %v err %v", dropped, err)
	}
	dropped, n, err = w.Enqueue(ctx, 1, "c", refs[3:], map[int]int64{1: 5}, 4)
	if err != nil || n != 4 {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dropped, refs[:1]) {
		t.Fatalf("dropped %v", dropped)
	}
	st, err := w.Load(ctx, 1, "c")
	if err != nil {
		t.Fatal(err)
	}
	// No session hash: Load reports nothing, but the raw queue is trimmed.
	if st.Epoch != 0 {
		t.Fatalf("state %+v", st)
	}
	if n, _ := rdb.LLen(ctx, w.Keys().Queue(1, "c")).Result(); n != 4 {
		t.Fatalf("queue length %d", n)
	}
}

func testDeleteRemovesEverything(t *testing.T, rdb redis.UniversalClient) {
	prefix := redistest.Prefix(t, rdb)
	w := session.NewWriter(rdb, session.Options{Prefix: prefix})
	ctx := context.Background()
	if err := applyOne(ctx, w, 0, 1, func(tx *session.Tx) {
		tx.PutSession("c", &session.Meta{Epoch: 1, Online: false, ExpiresAt: 1000})
		tx.PutSubs("c", session.Subscription{Filter: "x"})
		tx.ResetQueue("c", map[int]int64{0: 1})
	}); err != nil {
		t.Fatal(err)
	}
	if due, _ := w.Due(ctx, 0, 1000); len(due) != 1 {
		t.Fatalf("due %v", due)
	}
	if err := applyOne(ctx, w, 0, 2, func(tx *session.Tx) { tx.Delete("c") }); err != nil {
		t.Fatal(err)
	}
	keys, err := redistest.Keys(ctx, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys, []string{prefix + "applied:{0}"}) {
		t.Fatalf("keys left %v", keys)
	}
}

func testApplyBatchRecordsEachOffset(t *testing.T, rdb redis.UniversalClient) {
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
		m, err := w.Meta(ctx, 1, c.cid)
		if err != nil || m == nil || m.Applied != c.applied || m.Partition != 1 {
			t.Fatalf("%s: %+v %v", c.cid, m, err)
		}
	}
	if off, ok, _ := w.Applied(ctx, 1); !ok || off != 7 {
		t.Fatalf("applied %d", off)
	}
	// Metas reads the same hashes in one round trip; no session is nil.
	metas, err := w.Metas(ctx, 1, []string{"a", "b", "none"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		one, _ := w.Meta(ctx, 1, c.cid)
		if m := metas[c.cid]; m == nil || !reflect.DeepEqual(m, one) {
			t.Fatalf("Metas[%s] = %+v, Meta = %+v", c.cid, m, one)
		}
	}
	if m, ok := metas["none"]; !ok || m != nil {
		t.Fatalf("Metas[none] = %+v, %v; want nil, true", m, ok)
	}
}

func testApplyBatchFencing(t *testing.T, rdb redis.UniversalClient) {
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
			before, _ := w.Meta(ctx, 0, "c")
			err := w.ApplyBatch(ctx, 0, tc.owner, put(int64(10+i)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
			after, _ := w.Meta(ctx, 0, "c")
			if changed := !reflect.DeepEqual(before, after); changed != (tc.want == nil) {
				t.Fatalf("changed=%v with error %v", changed, err)
			}
		})
	}
}

// testPageWhileSessionsComeAndGo pages through a partition while sessions
// are created and deleted between pages: every session that exists
// throughout is listed exactly once, and the prefix filter holds.
func testPageWhileSessionsComeAndGo(t *testing.T, rdb redis.UniversalClient) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	r := session.NewReaderOptions(rdb, opt)
	ctx := context.Background()
	off := int64(0)
	put := func(cids ...string) {
		t.Helper()
		off++
		if err := applyOne(ctx, w, 2, off, func(tx *session.Tx) {
			for _, cid := range cids {
				tx.PutSession(cid, &session.Meta{Epoch: off, Online: true})
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(cids ...string) {
		t.Helper()
		off++
		if err := applyOne(ctx, w, 2, off, func(tx *session.Tx) {
			for _, cid := range cids {
				tx.Delete(cid)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	var stable []string
	for i := range 60 {
		stable = append(stable, fmt.Sprintf("dev-%03d", i))
	}
	put(stable...)
	put("tmp-a", "dev-010x", "aaa")
	seen := map[string]int{}
	after := ""
	for page := 0; page < 100; page++ {
		ids, err := r.Page(ctx, 2, after, "dev-", 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			seen[id]++
			if !strings.HasPrefix(id, "dev-") {
				t.Fatalf("page has %q outside the prefix", id)
			}
		}
		after = ids[len(ids)-1]
		// Churn between pages: before and after the position.
		del("dev-010x", "tmp-a")
		put(fmt.Sprintf("dev-%03dz", page), fmt.Sprintf("dev-000-%d", page))
	}
	for _, id := range stable {
		if seen[id] != 1 {
			t.Errorf("%s listed %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
}

func testMetaKeepsConnectDetails(t *testing.T, rdb redis.UniversalClient) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	ctx := context.Background()
	want := session.Meta{Epoch: 9, Conn: "c1", Node: "fe-1", Online: true, Proto: 5, Expiry: 60,
		Created: 100, Since: 200, Username: "alice", Peer: "127.0.0.1:5000", Keepalive: 30}
	m := want
	if err := applyOne(ctx, w, 1, 9, func(tx *session.Tx) { tx.PutSession("c", &m) }); err != nil {
		t.Fatal(err)
	}
	want.Applied, want.Partition = 9, 1
	got, err := session.NewReaderOptions(rdb, opt).Meta(ctx, 1, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("meta %+v, want %+v", got, want)
	}
	metas, err := session.NewReaderOptions(rdb, opt).Metas(ctx, 1, []string{"c", "none"})
	if err != nil || metas["none"] != nil || metas["c"] == nil || !reflect.DeepEqual(*metas["c"], want) {
		t.Fatalf("metas %v %v", metas, err)
	}
}

// testIndexPartitionBackfills indexes the partition set of a view written
// before the index existed.
func testIndexPartitionBackfills(t *testing.T, rdb redis.UniversalClient) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	ctx := context.Background()
	if err := applyOne(ctx, w, 3, 1, func(tx *session.Tx) { tx.PutSession("b", &session.Meta{Epoch: 1}) }); err != nil {
		t.Fatal(err)
	}
	// An older writer registered "a" in the set only.
	if err := rdb.SAdd(ctx, w.Keys().Part(3), "a").Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.IndexPartition(ctx, 3); err != nil {
		t.Fatal(err)
	}
	got, err := session.NewReaderOptions(rdb, opt).Page(ctx, 3, "", "", 10)
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("page %v %v", got, err)
	}
}

// TestKeysShareSlotPerPartition asks the Redis Cluster of the test stack
// for the slot of every key a transaction of one sessions partition
// touches: they must all be one slot, or the cluster refuses the
// transaction (CROSSSLOT), and different partitions spread over slots.
func TestKeysShareSlotPerPartition(t *testing.T) {
	rdb := redistest.Connect(t, redistest.ClusterOptions(t))
	ctx := context.Background()
	k := session.Keys{Prefix: "deploy."}
	slots := map[int64]bool{}
	for n := range 8 {
		keys := []string{k.Owner(n), k.Applied(n), k.Part(n), k.Index(n), k.Expiry(n),
			k.Held(n, "inc-1"), k.Incarnations(n), k.Down(n), k.Wills(n), k.WillMarks(n)}
		for _, cid := range []string{"c", "dev/1", "{x}", "a:b:c", ""} {
			keys = append(keys, k.Session(n, cid), k.Subs(n, cid), k.Cursor(n, cid), k.Inflight(n, cid),
				k.QoS2In(n, cid), k.Queue(n, cid), k.QueueFrom(n, cid))
		}
		want, err := rdb.ClusterKeySlot(ctx, k.Owner(n)).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[want] = true
		for _, key := range keys {
			if got, err := rdb.ClusterKeySlot(ctx, key).Result(); err != nil || got != want {
				t.Errorf("partition %d: %s is in slot %d (%v), owner:{%d} in %d", n, key, got, err, n, want)
			}
		}
	}
	if len(slots) < 2 {
		t.Errorf("8 partitions share %d slot(s)", len(slots))
	}
}

// testIncarnationIndex: the sessions held by a frontend incarnation are
// found by a node_down, which then forgets the incarnation except as down.
func testIncarnationIndex(t *testing.T, rdb redis.UniversalClient) {
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
	if err := applyOne(ctx, w, 2, 4, func(tx *session.Tx) { tx.NodeDown("inc-1", 8*day) }); err != nil {
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
// the partition's will set while the session is offline; a superseded
// will is due at its deadline, online or not, whichever comes first.
func testDelayedWill(t *testing.T, rdb redis.UniversalClient) {
	w := session.NewWriter(rdb, session.Options{Prefix: redistest.Prefix(t, rdb)})
	ctx := context.Background()
	will := &session.Will{Topic: "w/t", Payload: []byte{0, 'x'}, QoS: 1, Retain: true, Props: []byte{1, 1}, Delay: 5}
	put := func(off int64, online bool, due int64, sup []session.SupersededWill) {
		t.Helper()
		m := &session.Meta{Epoch: 1, Online: online, Will: will, WillDue: due, WillParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Inc: "i",
			Superseded: sup}
		if err := applyOne(ctx, w, 0, off, func(tx *session.Tx) { tx.PutSession("c", m) }); err != nil {
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
		superseded   []session.SupersededWill
	}{
		{"online: armed, not scheduled", true, 0, 100, nil, 0, false, nil},
		{"offline, not yet due", false, 500, 100, nil, 1, false, nil},
		{"offline, due", false, 500, 500, []string{"c"}, 1, false, nil},
		{"deleted", false, 500, 500, nil, 0, true, nil},
		{"online, superseded will not yet due", true, 0, 299, nil, 1, false, []session.SupersededWill{{Epoch: 0, Inc: "j", Will: will, Due: 300}}},
		{"online, superseded will due", true, 0, 300, []string{"c"}, 1, false, []session.SupersededWill{{Epoch: 0, Inc: "j", Will: will, Due: 300}}},
		{"offline, superseded will first", false, 500, 400, []string{"c"}, 1, false, []session.SupersededWill{{Epoch: 0, Inc: "j", Will: will, Due: 400}, {Epoch: 0, Due: 900}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			put(int64(10+2*i), tc.online, tc.due, tc.superseded)
			if tc.deleteBefore {
				if err := applyOne(ctx, w, 0, int64(11+2*i), func(tx *session.Tx) { tx.Delete("c") }); err != nil {
					t.Fatal(err)
				}
			} else if m, err := w.Meta(ctx, 0, "c"); err != nil || !reflect.DeepEqual(m.Will, will) || m.WillDue != tc.due || m.Inc != "i" || m.WillParent == "" ||
				!reflect.DeepEqual(m.Superseded, tc.superseded) || m.Holds("j") != (len(tc.superseded) > 0) || m.Holds("i") != tc.online {
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
func testWillMarks(t *testing.T, rdb redis.UniversalClient) {
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
	if err := applyOne(ctx, w, 1, 9, func(tx *session.Tx) { tx.UnmarkWills("id-1", "id-2") }); err != nil {
		t.Fatal(err)
	}
	if got, err := w.WillMarks(ctx, 1, []string{"id-1", "id-2"}); err != nil || len(got) != 0 {
		t.Fatalf("marks after the run %v %v", got, err)
	}
}

// testQueueViews: the queue view of a session agrees with its full load
// (subscriptions, queue start, queue length), and is empty for a session
// that does not exist.
func testQueueViews(t *testing.T, rdb redis.UniversalClient) {
	opt := session.Options{Prefix: redistest.Prefix(t, rdb)}
	w := session.NewWriter(rdb, opt)
	ctx := context.Background()
	step := session.Step{Offset: 7, Fn: func(tx *session.Tx) {
		tx.PutSession("q1", &session.Meta{Epoch: 7, Proto: 5, Expiry: 60})
		tx.PutSubs("q1", session.Subscription{Filter: "a/#", QoS: 1}, session.Subscription{Filter: "b", QoS: 0})
		tx.ResetQueue("q1", map[int]int64{0: 3, 2: 9})
	}}
	if err := w.ApplyBatch(ctx, 1, "", []session.Step{step}); err != nil {
		t.Fatal(err)
	}
	refs := []session.QueueRef{{Partition: 0, Offset: 3, QoS: 1}, {Partition: 0, Offset: 4, QoS: 1}}
	if _, _, err := w.Enqueue(ctx, 1, "q1", refs, map[int]int64{0: 5}, 100); err != nil {
		t.Fatal(err)
	}
	views, err := w.QueueViews(ctx, 1, []string{"q1", "none"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.Load(ctx, 1, "q1")
	if err != nil {
		t.Fatal(err)
	}
	v := views["q1"]
	if v.Meta == nil || !reflect.DeepEqual(*v.Meta, st.Meta) || !reflect.DeepEqual(v.Subscriptions, st.Subscriptions) ||
		!reflect.DeepEqual(v.QueueFrom, st.QueueFrom) || v.Queued != int64(len(st.Queue)) || v.Queued != 2 {
		t.Fatalf("view %+v, load %+v", v, st)
	}
	if none, ok := views["none"]; !ok || none.Meta != nil {
		t.Fatalf("view of no session: %+v, %v", none, ok)
	}
}
