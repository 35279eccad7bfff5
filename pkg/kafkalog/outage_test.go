package kafkalog_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// This is the one test of this package that uses an embedded broker
// (kfake): it must stop and restart the broker, and the shared real Kafka
// must never be stopped. Everything else runs against the real Kafka.
func TestOutageAndReturn(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	start := func() *kfake.Cluster {
		t.Helper()
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
		if err != nil {
			t.Fatalf("start kfake: %v", err)
		}
		return c
	}
	c := start()
	defer func() { c.Close() }()
	kc := kafkalog.Plain(c.ListenAddrs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "outage"
	if err := kafkalog.EnsureTopics(ctx, kc, kafkalog.TopicSpec{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}

	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{Timeout: 2 * time.Second})
	defer a.Close()
	col := newCollector()
	f := kafkalog.NewFollower(kc, kafkalog.FollowerOptions{Topic: topic, Default: kafkalog.Earliest}, col.add)
	fctx, stopF := context.WithCancel(ctx)
	fdone := make(chan error, 1)
	go func() { fdone <- f.Run(fctx) }()
	defer func() { stopF(); <-fdone }()

	gh := &groupRecorder{col: newCollector(), assigned: make(chan map[int]int64, 16), revoked: make(chan []int, 16)}
	gh.g = kafkalog.NewGroup(kafkalog.GroupOptions{Cluster: kc, GroupID: "outage-group", Topic: topic}, gh)
	gctx, stopG := context.WithCancel(ctx)
	gdone := make(chan error, 1)
	go func() { gdone <- gh.g.Run(gctx) }()
	defer func() { stopG(); <-gdone }()

	rec := &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte("before")}
	if err := a.Append(ctx, rec); err != nil {
		t.Fatalf("append before outage: %v", err)
	}
	col.wait(t, 1)
	gh.col.wait(t, 1)

	c.Close()
	began := time.Now()
	err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte("during")})
	if !errors.Is(err, kafkalog.ErrUnavailable) {
		t.Fatalf("append during outage: %v, want ErrUnavailable", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("append during outage took %s, bound is 2s", d)
	}

	c = start()
	// The same Appender must work again; the first attempts may still hit
	// connections to the old broker, so allow a bounded number of tries.
	after := &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte("after")}
	var lastErr error
	for range 10 {
		if lastErr = a.Append(ctx, after); lastErr == nil {
			break
		}
		if !errors.Is(lastErr, kafkalog.ErrUnavailable) {
			t.Fatalf("append after restart: %v", lastErr)
		}
	}
	if lastErr != nil {
		t.Fatalf("append never succeeded after restart: %v", lastErr)
	}
	if after.Offset != rec.Offset+1 {
		t.Fatalf("offset after restart %d, want %d (data dir keeps the log)", after.Offset, rec.Offset+1)
	}
	got := col.wait(t, 2)
	if string(got[1].Value) != "after" || got[1].Offset != after.Offset {
		t.Fatalf("follower got %q@%d after restart, want after@%d", got[1].Value, got[1].Offset, after.Offset)
	}
	// The group rejoined on its own and resumed after its commit: the
	// record before the outage is not handled twice.
	got = gh.col.wait(t, 2)
	if len(got) != 2 || string(got[1].Value) != "after" {
		t.Fatalf("group handled %d records after restart, last %q", len(got), got[len(got)-1].Value)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
