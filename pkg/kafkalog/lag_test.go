package kafkalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

// TestFollowerLag: while the handler is stuck on the first of 10 records
// the Follower reports them all as lag; once it gets through, none.
func TestFollowerLag(t *testing.T) {
	kc := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 1)
	ctx := testCtx(t)
	a := kafkalog.NewAppender(kc, kafkalog.AppenderOptions{})
	defer a.Close()
	for range 10 {
		if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	f := kafkalog.NewFollower(kc, kafkalog.FollowerOptions{Topic: topic, Default: kafkalog.Earliest}, func(*kafkalog.Record) { <-release })
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}()

	waitLag := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for f.Lag() != want {
			if time.Now().After(deadline) {
				t.Fatalf("lag %d, want %d", f.Lag(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLag(10)
	close(release)
	waitLag(0)
}
