package frontend

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

// stack is a private slice of the shared test stack: unique topics, a
// unique Redis key prefix and a session service of its own.
type stack struct {
	t      *testing.T
	kafka  kafkalog.Cluster
	redis  string
	prefix string
	topics Topics
}

func testLogger() *slog.Logger {
	if os.Getenv("TIDEMARK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newStack(t *testing.T) *stack {
	t.Helper()
	kc := kafkatest.Cluster(t)
	rdb := redistest.Client(t)
	st := &stack{t: t, kafka: kc, redis: redistest.Addr(t), prefix: redistest.Prefix(t, rdb)}
	st.topics = Topics{
		Messages:  kafkatest.NewTopic(t, 4),
		Sessions:  kafkatest.NewTopic(t, 4),
		Lifecycle: kafkatest.NewTopic(t, 4),
		Retained:  kafkatest.NewTopicSpec(t, kafkalog.TopicSpec{Partitions: 1, Compact: true}),
	}
	svc, err := sessiond.New(sessiond.Config{
		Node: "sessiond-test", Kafka: kc, RedisClient: rdb, KeyPrefix: st.prefix,
		Topics:  sessiond.Topics(st.topics),
		GroupID: kafkatest.UniqueName(t, "sessiond"), QueueQoS0: true, Logger: testLogger(),
	})
	if err != nil {
		t.Fatalf("sessiond: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 60*time.Second, "session service ready", svc.Ready)
	return st
}

// frontend starts a frontend on random loopback ports.
func (st *stack) frontend(name string) *Server {
	s, _ := st.frontendWith(name, nil)
	return s
}

// frontendWith starts a frontend with a changed config; stop ends it and
// waits for Run to return.
func (st *stack) frontendWith(name string, mutate func(*Config)) (s *Server, stop func()) {
	st.t.Helper()
	return st.frontendHooked(name, mutate, nil)
}

// frontendHooked is frontendWith with hook run on the Server before it
// starts.
func (st *stack) frontendHooked(name string, mutate func(*Config), hook func(*Server)) (s *Server, stop func()) {
	t := st.t
	t.Helper()
	cfg := Config{
		Node: name, MQTTAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0",
		Kafka: st.kafka, Redis: st.redis, KeyPrefix: st.prefix, Topics: st.topics,
		Logger: testLogger().With("frontend", name),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("new frontend: %v", err)
	}
	if hook != nil {
		hook(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("frontend did not stop")
		}
	}
	t.Cleanup(stop)
	waitFor(t, 60*time.Second, "frontend ready", s.Ready)
	return s, stop
}

// waitFor polls cond; readiness has no signal to wait on from outside.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func addr(s *Server, l string) string { return s.Addr(l).String() }

func uniqueTopic(t *testing.T) string {
	return fmt.Sprintf("it/%s/%d", t.Name(), time.Now().UnixNano())
}
