package standalone

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startKafka(t *testing.T, dir string) *EmbeddedKafka {
	t.Helper()
	k, err := StartKafka(KafkaConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// readAll returns every record of a partition through ReadRange.
func readAll(t *testing.T, ctx context.Context, brokers kafkalog.Cluster, topic string, p int) []*kafkalog.Record {
	t.Helper()
	b, err := kafkalog.TopicBounds(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []*kafkalog.Record
	err = kafkalog.ReadRange(ctx, brokers, topic, p, b[p].First, b[p].Next, func(r *kafkalog.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoopback(t *testing.T) {
	tests := []struct {
		addr    string
		host    string
		port    int
		wantErr error
		anyErr  bool
	}{
		{"127.0.0.1:0", "127.0.0.1", 0, nil, false},
		{"127.0.0.2:9092", "127.0.0.2", 9092, nil, false},
		{"localhost:1", "127.0.0.1", 1, nil, false},
		{"[::1]:5", "::1", 5, nil, false},
		{"0.0.0.0:9092", "", 0, ErrNotLoopback, true},
		{":9092", "", 0, ErrNotLoopback, true},
		{"10.0.0.1:9092", "", 0, ErrNotLoopback, true},
		{"127.0.0.1", "", 0, nil, true},
		{"127.0.0.1:70000", "", 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			host, port, err := loopback(tt.addr)
			if (err != nil) != tt.anyErr || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && (host != tt.host || port != tt.port) {
				t.Fatalf("got %s %d, want %s %d", host, port, tt.host, tt.port)
			}
		})
	}
	if _, err := StartKafka(KafkaConfig{Addr: "0.0.0.0:0"}); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("StartKafka on 0.0.0.0: %v", err)
	}
	if _, err := StartRedis(RedisConfig{Addr: "0.0.0.0:0"}); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("StartRedis on 0.0.0.0: %v", err)
	}
}

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

func (c *collector) wait(t *testing.T, n int) []*kafkalog.Record {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		got := slices.Clone(c.recs)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("got %d records, want %d", len(got), n)
		}
	}
}

// committer is a GroupHandler that commits every handled record.
type committer struct {
	g        *kafkalog.Group
	col      *collector
	assigned chan map[int]int64
}

func (h *committer) Assigned(_ context.Context, parts map[int]int64) error {
	h.assigned <- parts
	return nil
}

func (h *committer) Handle(ctx context.Context, rec *kafkalog.Record) error {
	if err := h.g.Commit(ctx, rec.Partition, rec.Offset+1); err != nil {
		return err
	}
	h.col.add(rec)
	return nil
}

func (h *committer) Revoked([]int) {}

// runGroup joins group, handles want records, leaves, and returns the
// assignment it saw.
func runGroup(t *testing.T, ctx context.Context, brokers kafkalog.Cluster, group, topic string, want int) (map[int]int64, []*kafkalog.Record) {
	t.Helper()
	h := &committer{col: newCollector(), assigned: make(chan map[int]int64, 4)}
	h.g = kafkalog.NewGroup(kafkalog.GroupOptions{Cluster: brokers, GroupID: group, Topic: topic}, h)
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.g.Run(gctx) }()
	var assigned map[int]int64
	select {
	case assigned = <-h.assigned:
	case <-ctx.Done():
		t.Fatal("never assigned")
	}
	recs := h.col.wait(t, want)
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("group Run: %v", err)
	}
	return assigned, recs
}

// The adapter works against the embedded broker, and a restart on the same
// data directory keeps records and committed group offsets.
func TestKafkalogOnEmbeddedKafkaAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	k := startKafka(t, dir)
	brokers := k.Cluster()
	specs := []kafkalog.TopicSpec{
		{Name: "mqtt.messages", Partitions: 4, Retention: 24 * time.Hour},
		{Name: "mqtt.retained", Partitions: 1, Compact: true},
	}
	if err := kafkalog.EnsureTopics(ctx, brokers, specs...); err != nil {
		t.Fatal(err)
	}
	if err := kafkalog.EnsureTopics(ctx, brokers, specs...); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}

	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	col := newCollector()
	f := kafkalog.NewFollower(brokers, kafkalog.FollowerOptions{Topic: "mqtt.messages", Default: kafkalog.Earliest}, col.add)
	fctx, stopF := context.WithCancel(ctx)
	fdone := make(chan error, 1)
	go func() { fdone <- f.Run(fctx) }()
	<-f.Ready()
	if pos := f.Positions(); !maps.Equal(pos, map[int]int64{0: 0, 1: 0, 2: 0, 3: 0}) {
		t.Fatalf("positions %v", pos)
	}

	var appended []*kafkalog.Record
	for i := range 20 {
		r := &kafkalog.Record{Topic: "mqtt.messages", Key: fmt.Appendf(nil, "t/%d", i%5), Value: fmt.Append(nil, i),
			Headers: []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte("1")}}}
		if err := a.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
		if want := kafkalog.PartitionFor(r.Key, 4); r.Partition != want {
			t.Fatalf("key %s in partition %d, want %d", r.Key, r.Partition, want)
		}
		appended = append(appended, r)
	}
	got := col.wait(t, 20)
	stopF()
	<-fdone
	for _, r := range got {
		if v, _ := r.Header(kafkalog.HeaderQoS); string(v) != "1" {
			t.Fatalf("header lost: %+v", r.Headers)
		}
	}

	_, handled := runGroup(t, ctx, brokers, "mqtt-sessiond", "mqtt.messages", 20)
	if len(handled) != 20 {
		t.Fatalf("group handled %d", len(handled))
	}
	before := map[int][]string{}
	for p := range 4 {
		for _, r := range readAll(t, ctx, brokers, "mqtt.messages", p) {
			before[p] = append(before[p], fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, r.Value))
		}
	}
	a.Close()
	k.Close()

	k = startKafka(t, dir)
	defer k.Close()
	brokers = k.Cluster()
	for p := range 4 {
		var after []string
		for _, r := range readAll(t, ctx, brokers, "mqtt.messages", p) {
			after = append(after, fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, r.Value))
		}
		if !slices.Equal(after, before[p]) {
			t.Fatalf("partition %d after restart %v, before %v", p, after, before[p])
		}
	}
	ps, err := kafkalog.Partitions(ctx, brokers, "mqtt.retained")
	if err != nil || len(ps) != 1 {
		t.Fatalf("retained topic after restart: %v %v", ps, err)
	}

	// Committed offsets survived: a new member resumes after the 20.
	a = kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	next := map[int]int64{}
	for _, r := range appended {
		next[r.Partition] = max(next[r.Partition], r.Offset+1)
	}
	extra := &kafkalog.Record{Topic: "mqtt.messages", Key: []byte("t/0"), Value: []byte("after")}
	if err := a.Append(ctx, extra); err != nil {
		t.Fatal(err)
	}
	assigned, recs := runGroup(t, ctx, brokers, "mqtt-sessiond", "mqtt.messages", 1)
	for p := range 4 {
		want, ok := next[p]
		if !ok {
			want = -1
		}
		if assigned[p] != want {
			t.Fatalf("assigned after restart %v, want %v", assigned, next)
		}
	}
	if len(recs) != 1 || string(recs[0].Value) != "after" {
		t.Fatalf("resumed group got %d records, first %q", len(recs), recs[0].Value)
	}
}

func TestEmbeddedKafkaCompaction(t *testing.T) {
	ctx := testCtx(t)
	k := startKafka(t, "")
	defer k.Close()
	brokers := k.Cluster()
	if err := kafkalog.EnsureTopics(ctx, brokers, kafkalog.TopicSpec{Name: "retained", Partitions: 1, Compact: true}); err != nil {
		t.Fatal(err)
	}
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	for _, kv := range [][2]string{{"a", "1"}, {"b", "1"}, {"a", "2"}, {"c", "1"}, {"c", ""}} {
		r := &kafkalog.Record{Topic: "retained", Key: []byte(kv[0])}
		if kv[1] != "" {
			r.Value = []byte(kv[1])
		}
		if err := a.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	k.Compact()
	latest := map[string]string{}
	var offsets []int64
	for _, r := range readAll(t, ctx, brokers, "retained", 0) {
		offsets = append(offsets, r.Offset)
		if r.Value == nil {
			delete(latest, string(r.Key))
			continue
		}
		latest[string(r.Key)] = string(r.Value)
	}
	if want := map[string]string{"a": "2", "b": "1"}; !maps.Equal(latest, want) {
		t.Fatalf("latest values %v, want %v", latest, want)
	}
	// Compaction removed the overwritten a=1 at offset 0.
	if slices.Contains(offsets, 0) {
		t.Fatalf("offset 0 survived compaction: %v", offsets)
	}
}

func TestFollowerReportsRetentionGap(t *testing.T) {
	ctx := testCtx(t)
	k := startKafka(t, "")
	defer k.Close()
	brokers := k.Cluster()
	if err := kafkalog.EnsureTopics(ctx, brokers, kafkalog.TopicSpec{Name: "short", Partitions: 1, Retention: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	for range 3 {
		old := &kafkalog.Record{Topic: "short", Key: []byte("k"), Value: []byte("old"), Time: time.Now().Add(-time.Hour)}
		if err := a.Append(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	k.ApplyRetention()
	b, err := kafkalog.TopicBounds(ctx, brokers, "short")
	if err != nil {
		t.Fatal(err)
	}
	if b[0].First == 0 {
		t.Fatalf("retention deleted nothing: %+v", b[0])
	}
	type gap struct {
		p        int
		from, to int64
	}
	gaps := make(chan gap, 1)
	f := kafkalog.NewFollower(brokers, kafkalog.FollowerOptions{
		Topic: "short", Start: map[int]int64{0: 0},
		OnGap: func(p int, from, to int64) { gaps <- gap{p, from, to} },
	}, func(*kafkalog.Record) {})
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go f.Run(fctx)
	<-f.Ready()
	select {
	case g := <-gaps:
		if g != (gap{0, 0, b[0].First}) {
			t.Fatalf("gap %+v, want {0 0 %d}", g, b[0].First)
		}
	default:
		t.Fatal("no gap reported by Ready")
	}
	if pos := f.Positions(); pos[0] != b[0].First {
		t.Fatalf("position %d, want %d", pos[0], b[0].First)
	}
}

func TestEmbeddedRedisSnapshot(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	r, err := StartRedis(RedisConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "applied:0", "41", 0)
		p.HSet(ctx, "sess:{c1}", "epoch", "7", "online", "0")
		p.SAdd(ctx, "sess:{c1}:q2in", "3", "9")
		p.RPush(ctx, "sess:{c1}:queue", "0:1:1", "0:2:0", "1:5:2")
		p.ZAdd(ctx, "exp:0", redis.Z{Score: 1700, Member: "c1"})
		p.Set(ctx, "ttl", "x", time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	r, err = StartRedis(RedisConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c = redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	tests := []struct {
		name string
		get  func() (any, error)
		want any
	}{
		{"string", func() (any, error) { return c.Get(ctx, "applied:0").Result() }, "41"},
		{"hash", func() (any, error) { return c.HGetAll(ctx, "sess:{c1}").Result() }, map[string]string{"epoch": "7", "online": "0"}},
		{"set", func() (any, error) {
			m, err := c.SMembers(ctx, "sess:{c1}:q2in").Result()
			slices.Sort(m)
			return m, err
		}, []string{"3", "9"}},
		{"list order", func() (any, error) { return c.LRange(ctx, "sess:{c1}:queue", 0, -1).Result() }, []string{"0:1:1", "0:2:0", "1:5:2"}},
		{"zset", func() (any, error) { return c.ZScore(ctx, "exp:0", "c1").Result() }, float64(1700)},
		{"ttl kept", func() (any, error) {
			d, err := c.TTL(ctx, "ttl").Result()
			return d > 59*time.Minute && d <= time.Hour, err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Compaction leaves offsets without records (superseded values, expired
// tombstones); readers must step over them. kfake never compacts the last
// batch, so the hole here is in the middle; a hole at the end of the log
// is covered by TestFetchOnce in pkg/kafkalog.
func TestReadersStepOverCompactedHole(t *testing.T) {
	ctx := testCtx(t)
	k := startKafka(t, "")
	defer k.Close()
	brokers := k.Cluster()
	spec := kafkalog.TopicSpec{Name: "holes", Partitions: 1, Compact: true, Configs: map[string]string{"delete.retention.ms": "0"}}
	if err := kafkalog.EnsureTopics(ctx, brokers, spec); err != nil {
		t.Fatal(err)
	}
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	for _, r := range []*kafkalog.Record{
		{Topic: "holes", Key: []byte("b"), Value: []byte("1")},
		{Topic: "holes", Key: []byte("a"), Value: []byte("1")},
		{Topic: "holes", Key: []byte("a")}, // tombstone, expires at once
		{Topic: "holes", Key: []byte("c"), Value: []byte("1")},
	} {
		if err := a.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	k.Compact()
	b, err := kafkalog.TopicBounds(ctx, brokers, "holes")
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	err = kafkalog.ReadRange(ctx, brokers, "holes", 0, b[0].First, b[0].Next, func(r *kafkalog.Record) error {
		offs = append(offs, r.Offset)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(offs, []int64{0, 3}) {
		t.Fatalf("offsets %v, want [0 3] (compaction removed a and its tombstone)", offs)
	}
	col := newCollector()
	f := kafkalog.NewFollower(brokers, kafkalog.FollowerOptions{Topic: "holes", Start: map[int]int64{0: 1}}, col.add)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go f.Run(fctx)
	if got := col.wait(t, 1); got[0].Offset != 3 {
		t.Fatalf("follower from 1 got offset %d first, want 3", got[0].Offset)
	}
}

// The broker cleans by itself every CleanerInterval; no caller has to
// remember to compact.
func TestEmbeddedKafkaCleansInBackground(t *testing.T) {
	ctx := testCtx(t)
	k, err := StartKafka(KafkaConfig{CleanerInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	brokers := k.Cluster()
	if err := kafkalog.EnsureTopics(ctx, brokers, kafkalog.TopicSpec{Name: "auto", Partitions: 1, Compact: true}); err != nil {
		t.Fatal(err)
	}
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	for _, v := range []string{"1", "2", "3"} {
		if err := a.Append(ctx, &kafkalog.Record{Topic: "auto", Key: []byte("k"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// Timer-driven, so there is no signal to wait for: poll, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := readAll(t, ctx, brokers, "auto", 0)
		if len(recs) > 0 && recs[0].Offset > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset 0 still there after 10s: %d records", len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
