package kafkalog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// keyFor returns a key that lands in partition p of n.
func keyFor(p, n int, salt string) []byte {
	for i := 0; ; i++ {
		k := fmt.Appendf(nil, "%s-%d", salt, i)
		if kafkalog.PartitionFor(k, n) == p {
			return k
		}
	}
}

func TestAppendThenReadRange(t *testing.T) {
	kc := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 4)
	ctx := testCtx(t)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()

	// Concurrent callers, each appending a sequence for its own key: per
	// key, offsets must grow in append order.
	const keys, perKey = 8, 10
	var (
		mu  sync.Mutex
		all []*kafkalog.Record
		wg  sync.WaitGroup
	)
	errs := make(chan error, keys)
	for k := range keys {
		wg.Go(func() {
			key := fmt.Appendf(nil, "key-%d", k)
			last := int64(-1)
			for i := range perKey {
				rec := &kafkalog.Record{
					Topic: topic, Key: key, Value: fmt.Appendf(nil, "%d/%d", k, i),
					Headers: []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte("1")}},
				}
				if err := a.Append(ctx, rec); err != nil {
					errs <- err
					return
				}
				if want := kafkalog.PartitionFor(key, 4); rec.Partition != want {
					errs <- fmt.Errorf("key %s in partition %d, want %d", key, rec.Partition, want)
					return
				}
				if rec.Offset <= last {
					errs <- fmt.Errorf("key %s: offset %d after %d", key, rec.Offset, last)
					return
				}
				last = rec.Offset
				mu.Lock()
				all = append(all, rec)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A batch Append of several records sets every offset too.
	batch := []*kafkalog.Record{{Topic: topic, Key: []byte("b1"), Value: []byte("x")}, {Topic: topic, Key: []byte("b2"), Value: []byte("y")}}
	if err := a.Append(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	all = append(all, batch...)

	bounds, err := kafkalog.TopicBounds(ctx, kc, topic)
	if err != nil {
		t.Fatal(err)
	}
	byPart := map[int]map[int64]*kafkalog.Record{}
	for _, r := range all {
		if byPart[r.Partition] == nil {
			byPart[r.Partition] = map[int64]*kafkalog.Record{}
		}
		if _, dup := byPart[r.Partition][r.Offset]; dup {
			t.Fatalf("two records got %d/%d", r.Partition, r.Offset)
		}
		byPart[r.Partition][r.Offset] = r
	}
	for p, want := range byPart {
		if got := bounds[p]; got.First != 0 || got.Next != int64(len(want)) {
			t.Errorf("partition %d bounds %+v, want {0 %d}", p, got, len(want))
		}
		var read []*kafkalog.Record
		err := kafkalog.ReadRange(ctx, kc, topic, p, 0, bounds[p].Next, func(r *kafkalog.Record) error {
			read = append(read, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(read) != len(want) {
			t.Fatalf("partition %d: read %d records, appended %d", p, len(read), len(want))
		}
		for _, r := range read {
			w := want[r.Offset]
			if w == nil || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) {
				t.Fatalf("partition %d offset %d: read %q=%q, appended %+v", p, r.Offset, r.Key, r.Value, w)
			}
			if v, _ := r.Header(kafkalog.HeaderQoS); !bytes.Equal(v, firstHeader(w)) {
				t.Fatalf("header mqtt-qos %q, want %q", v, firstHeader(w))
			}
		}
	}
}

func firstHeader(r *kafkalog.Record) []byte {
	if len(r.Headers) == 0 {
		return nil
	}
	return r.Headers[0].Value
}

// TestAppendPinned: a pinned record lands in the partition it names, not
// in its key's, and is read back there; unpinned records in the same
// Append still follow their keys.
func TestAppendPinned(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 4)
	ctx := testCtx(t)
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	key := []byte("same-key")
	home := kafkalog.PartitionFor(key, 4)
	var recs []*kafkalog.Record
	for p := range 4 {
		recs = append(recs, &kafkalog.Record{Topic: topic, Key: key, Value: fmt.Appendf(nil, "pinned-%d", p), Partition: p, Pinned: true})
	}
	recs = append(recs, &kafkalog.Record{Topic: topic, Key: key, Value: []byte("by key")})
	if err := a.Append(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for p, r := range recs[:4] {
		if r.Partition != p {
			t.Fatalf("pinned to %d, appended to %d", p, r.Partition)
		}
		var got []string
		err := kafkalog.ReadRange(ctx, brokers, topic, p, r.Offset, r.Offset+1, func(rec *kafkalog.Record) error {
			got = append(got, string(rec.Value))
			return nil
		})
		if err != nil || len(got) != 1 || got[0] != fmt.Sprintf("pinned-%d", p) {
			t.Fatalf("partition %d at %d: read %v, %v", p, r.Offset, got, err)
		}
	}
	if last := recs[4]; last.Partition != home {
		t.Fatalf("unpinned record in partition %d, its key's is %d", last.Partition, home)
	}
	if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: key, Partition: -1, Pinned: true}); err == nil {
		t.Fatal("a record pinned to partition -1 was appended")
	}
}

func TestReadRangeBounds(t *testing.T) {
	kc := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 1)
	ctx := testCtx(t)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()
	for i := range 10 {
		if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: fmt.Append(nil, i)}); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	tests := []struct {
		name     string
		from, to int64
		stopAt   int64 // fn returns stop at this offset; -1 never
		want     []int64
		wantErr  error
	}{
		{"middle", 3, 6, -1, []int64{3, 4, 5}, nil},
		{"empty", 5, 5, -1, nil, nil},
		{"beyond end stops at end", 8, 100, -1, []int64{8, 9}, nil},
		{"from end", 10, 20, -1, nil, nil},
		{"fn error stops", 0, 10, 2, []int64{0, 1, 2}, stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			err := kafkalog.ReadRange(ctx, kc, topic, 0, tt.from, tt.to, func(r *kafkalog.Record) error {
				got = append(got, r.Offset)
				if r.Offset == tt.stopAt {
					return stop
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("offsets %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEnsureTopicsIdempotent(t *testing.T) {
	kc := kafkatest.Cluster(t)
	ctx := testCtx(t)
	name := kafkatest.UniqueName(t, "ensure")
	specs := []kafkalog.TopicSpec{
		{Name: name + ".a", Partitions: 3},
		{Name: name + ".c", Partitions: 1, Compact: true, Retention: time.Hour},
	}
	for i := range 2 {
		if err := kafkalog.EnsureTopics(ctx, kc, specs...); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	for _, s := range specs {
		ps, err := kafkalog.Partitions(ctx, kc, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != s.Partitions {
			t.Fatalf("%s: partitions %v, want %d", s.Name, ps, s.Partitions)
		}
	}
	if _, err := kafkalog.Partitions(ctx, kc, name+".missing"); !errors.Is(err, kafkalog.ErrNoTopic) {
		t.Fatalf("missing topic: %v, want ErrNoTopic", err)
	}
}

// collector gathers records a Follower or Group delivers, and lets a test
// wait for a count without sleeping.
type collector struct {
	mu   sync.Mutex
	recs []*kafkalog.Record
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) add(r *kafkalog.Record) {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() []*kafkalog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// wait returns once n records arrived, or fails the test after 20s.
func (c *collector) wait(t *testing.T, n int) []*kafkalog.Record {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := c.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("got %d records, want %d", len(c.snapshot()), n)
		}
	}
}

func offsetsOf(recs []*kafkalog.Record) map[int][]int64 {
	out := map[int][]int64{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r.Offset)
	}
	return out
}

func TestFollowerStart(t *testing.T) {
	kc := kafkatest.Cluster(t)
	tests := []struct {
		name    string
		start   map[int]int64
		def     kafkalog.StartAt
		wantPos map[int]int64   // after 3 records per partition
		want    map[int][]int64 // delivered after 2 more per partition
	}{
		{"latest", nil, kafkalog.Latest, map[int]int64{0: 3, 1: 3}, map[int][]int64{0: {3, 4}, 1: {3, 4}}},
		{"earliest", nil, kafkalog.Earliest, map[int]int64{0: 0, 1: 0}, map[int][]int64{0: {0, 1, 2, 3, 4}, 1: {0, 1, 2, 3, 4}}},
		{"explicit", map[int]int64{0: 1}, kafkalog.Latest, map[int]int64{0: 1, 1: 3}, map[int][]int64{0: {1, 2, 3, 4}, 1: {3, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := kafkatest.NewTopic(t, 2)
			ctx := testCtx(t)
			a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
			defer a.Close()
			appendEach := func(n int) {
				for p := range 2 {
					for range n {
						if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: keyFor(p, 2, "k"), Value: []byte("v")}); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			appendEach(3)

			col := newCollector()
			f := kafkalog.NewFollower(kc, kafkalog.FollowerOptions{Topic: topic, Start: tt.start, Default: tt.def}, col.add)
			fctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- f.Run(fctx) }()
			defer func() {
				stop()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v, want context.Canceled", err)
				}
			}()
			select {
			case <-f.Ready():
			case <-ctx.Done():
				t.Fatal("follower never ready")
			}
			// At Ready every partition is positioned at its start; records
			// already in the log (offsets 0-2) may be delivered right after,
			// so a position may have moved on, but never past them.
			ready := f.Positions()
			for p, start := range tt.wantPos {
				if pos, ok := ready[p]; !ok || pos < start || pos > 3 {
					t.Fatalf("positions at ready %v, want %v (or moved on within the 3 records present)", ready, tt.wantPos)
				}
			}
			appendEach(2)
			n := 0
			for _, o := range tt.want {
				n += len(o)
			}
			got := offsetsOf(col.wait(t, n))
			if !maps.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("delivered %v, want %v", got, tt.want)
			}
			// A position moves on just after its record was handled.
			pos := f.Positions()
			for end := time.Now().Add(5 * time.Second); !maps.Equal(pos, map[int]int64{0: 5, 1: 5}) && time.Now().Before(end); pos = f.Positions() {
				time.Sleep(5 * time.Millisecond)
			}
			if !maps.Equal(pos, map[int]int64{0: 5, 1: 5}) {
				t.Fatalf("positions after delivery %v, want 5 each", pos)
			}
		})
	}
}

// groupRecorder is a GroupHandler that commits every record it handles.
type groupRecorder struct {
	g        *kafkalog.Group
	col      *collector
	assigned chan map[int]int64
	revoked  chan []int
	// rejoinOnce, when set, makes the first Assigned call Rejoin before it
	// returns (a handler that finds at once it cannot keep a partition).
	rejoinOnce atomic.Bool
}

func (h *groupRecorder) Assigned(ctx context.Context, parts map[int]int64) error {
	if h.rejoinOnce.Swap(false) {
		h.g.Rejoin()
	}
	h.assigned <- parts
	return nil
}

func (h *groupRecorder) Handle(ctx context.Context, rec *kafkalog.Record) error {
	if err := h.g.Commit(ctx, rec.Partition, rec.Offset+1); err != nil {
		return err
	}
	h.col.add(rec)
	return nil
}

func (h *groupRecorder) Revoked(parts []int) { h.revoked <- parts }

func TestGroupCommitAndResume(t *testing.T) {
	kc := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 2)
	groupID := kafkatest.UniqueName(t, "group")
	ctx := testCtx(t)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()
	appendEach := func(n int) {
		for p := range 2 {
			for range n {
				if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: keyFor(p, 2, "g"), Value: []byte("v")}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// run joins the group, waits for want records, and leaves; it returns
	// the assignment it saw and the records.
	run := func(want int) (map[int]int64, map[int][]int64) {
		h := &groupRecorder{col: newCollector(), assigned: make(chan map[int]int64, 4), revoked: make(chan []int, 4)}
		h.g = kafkalog.NewGroup(kafkalog.GroupOptions{Cluster: kc, GroupID: groupID, Topic: topic}, h)
		gctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.g.Run(gctx) }()
		var assigned map[int]int64
		select {
		case assigned = <-h.assigned:
		case <-ctx.Done():
			t.Fatal("never assigned")
		}
		got := offsetsOf(h.col.wait(t, want))
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		select {
		case parts := <-h.revoked:
			slices.Sort(parts)
			if !slices.Equal(parts, []int{0, 1}) {
				t.Fatalf("revoked %v", parts)
			}
		default:
			t.Fatal("Revoked not called by the time Run returned")
		}
		if err := h.g.Commit(ctx, 0, 1); !errors.Is(err, kafkalog.ErrNotAssigned) {
			t.Fatalf("commit after revoke: %v, want ErrNotAssigned", err)
		}
		return assigned, got
	}

	appendEach(3)
	assigned, got := run(6)
	if want := map[int]int64{0: -1, 1: -1}; !maps.Equal(assigned, want) {
		t.Fatalf("first assignment %v, want %v", assigned, want)
	}
	if want := map[int][]int64{0: {0, 1, 2}, 1: {0, 1, 2}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("first run got %v, want %v", got, want)
	}

	appendEach(2)
	assigned, got = run(4)
	if want := map[int]int64{0: 3, 1: 3}; !maps.Equal(assigned, want) {
		t.Fatalf("second assignment %v, want %v", assigned, want)
	}
	if want := map[int][]int64{0: {3, 4}, 1: {3, 4}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("second run got %v, want %v", got, want)
	}
}

// TestGroupRejoin: Rejoin ends the generation with no record to handle:
// the partitions are revoked and assigned again, whether it is called
// once the partitions are assigned or while Assigned runs (the first lost
// it: it found no generation to end yet).
func TestGroupRejoin(t *testing.T) {
	for _, during := range []bool{false, true} {
		t.Run(fmt.Sprintf("during Assigned %v", during), func(t *testing.T) {
			brokers := kafkatest.Cluster(t)
			topic := kafkatest.NewTopic(t, 2)
			ctx := testCtx(t)
			h := &groupRecorder{col: newCollector(), assigned: make(chan map[int]int64, 4), revoked: make(chan []int, 4)}
			h.rejoinOnce.Store(during)
			h.g = kafkalog.NewGroup(kafkalog.GroupOptions{Cluster: brokers, GroupID: kafkatest.UniqueName(t, "group"), Topic: topic}, h)
			gctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- h.g.Run(gctx) }()
			defer func() { stop(); <-done }()
			for round := range 2 {
				select {
				case <-h.assigned:
				case <-ctx.Done():
					t.Fatalf("round %d: not assigned", round)
				}
				if round == 0 {
					if !during {
						h.g.Rejoin()
					}
					select {
					case <-h.revoked:
					case <-ctx.Done():
						t.Fatal("Rejoin did not end the generation")
					}
				}
			}
		})
	}
}

func TestAppendUnreachable(t *testing.T) {
	// Port 1 on loopback refuses connections: nothing listens there.
	a := kafkalog.NewAppender(kafkalog.Plain("127.0.0.1:1"), kafkalog.AppenderOptions{Timeout: time.Second})
	defer a.Close()
	start := time.Now()
	err := a.Append(context.Background(), &kafkalog.Record{Topic: "t", Key: []byte("k"), Value: []byte("v")})
	if !errors.Is(err, kafkalog.ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s, bound is 1s", d)
	}
}

func TestAppendAfterClose(t *testing.T) {
	a := kafkalog.NewAppender(kafkalog.Plain("127.0.0.1:1"), kafkalog.AppenderOptions{})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	err := a.Append(context.Background(), &kafkalog.Record{Topic: "t", Value: []byte("v")})
	if !errors.Is(err, kafkalog.ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}

func BenchmarkAppend100B(b *testing.B) {
	kc := kafkatest.Cluster(b)
	topic := kafkatest.NewTopic(b, 4)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()
	val := bytes.Repeat([]byte("x"), 100)
	b.SetBytes(100)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			rec := &kafkalog.Record{Topic: topic, Key: fmt.Append(nil, i%64), Value: val}
			if err := a.Append(context.Background(), rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// lateCommitter commits nothing while handling and everything in Revoked,
// as a service that batches commits does at shutdown.
type lateCommitter struct {
	g        *kafkalog.Group
	col      *collector
	mu       sync.Mutex
	next     map[int]int64
	assigned chan map[int]int64
	errs     chan error
}

func (h *lateCommitter) Assigned(_ context.Context, parts map[int]int64) error {
	h.assigned <- parts
	return nil
}

func (h *lateCommitter) Handle(_ context.Context, rec *kafkalog.Record) error {
	h.mu.Lock()
	h.next[rec.Partition] = rec.Offset + 1
	h.mu.Unlock()
	h.col.add(rec)
	return nil
}

func (h *lateCommitter) Revoked(parts []int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, n := range h.next {
		if err := h.g.Commit(ctx, p, n); err != nil {
			h.errs <- err
			return
		}
	}
	h.errs <- nil
}

func TestGroupCommitInRevoked(t *testing.T) {
	kc := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 1)
	groupID := kafkatest.UniqueName(t, "group")
	ctx := testCtx(t)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()
	for range 3 {
		if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(want int) map[int]int64 {
		h := &lateCommitter{col: newCollector(), next: map[int]int64{}, assigned: make(chan map[int]int64, 2), errs: make(chan error, 2)}
		h.g = kafkalog.NewGroup(kafkalog.GroupOptions{Cluster: kc, GroupID: groupID, Topic: topic}, h)
		gctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.g.Run(gctx) }()
		assigned := <-h.assigned
		h.col.wait(t, want)
		stop()
		<-done
		if err := <-h.errs; err != nil {
			t.Fatalf("commit in Revoked: %v", err)
		}
		return assigned
	}
	if got := run(3); !maps.Equal(got, map[int]int64{0: -1}) {
		t.Fatalf("first assignment %v", got)
	}
	if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if got := run(1); !maps.Equal(got, map[int]int64{0: 3}) {
		t.Fatalf("second assignment %v, want {0: 3}", got)
	}
}

// BenchmarkAppendFanIn is the frontend's publish path under fan-in load:
// 20 concurrent callers, each appending its batches of 64-byte records
// under one key of ten (one publisher's topic), as the publish pumps do.
// It reports records/s for the Appender's BatchSize bound, the trade-off
// between requests that carry several callers' batches and the room
// kafka-go allocates for BatchSize messages per batch.
//
//	go test -run '^$' -bench AppendFanIn -benchmem ./pkg/kafkalog
func BenchmarkAppendFanIn(b *testing.B) {
	kc := kafkatest.Cluster(b)
	for _, batch := range []int{64, 256} {
		for _, size := range []int{64, 256, 1024} {
			b.Run(fmt.Sprintf("call=%d/batchsize=%d", batch, size), func(b *testing.B) {
				topic := kafkatest.NewTopic(b, 8)
				a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{BatchSize: size})
				defer a.Close()
				val := bytes.Repeat([]byte("x"), 64)
				const callers = 20
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for c := range callers {
					wg.Go(func() {
						key := fmt.Append(nil, "bench/", c%10)
						recs := make([]*kafkalog.Record, batch)
						for next.Add(int64(batch)) <= int64(b.N) {
							for i := range recs {
								recs[i] = &kafkalog.Record{Topic: topic, Key: key, Value: val}
							}
							if err := a.Append(context.Background(), recs...); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			})
		}
	}
}
