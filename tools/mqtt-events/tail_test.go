package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

// lines is an io.Writer that collects lines and signals each write.
type lines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newLines() *lines { return &lines{wrote: make(chan struct{}, 1)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSuffix(l.buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitFor waits until cond holds on the lines, re-checking after each
// write, for at most 30 s.
func (l *lines) waitFor(t *testing.T, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if got := l.all(); cond(got) {
			return got
		}
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; have %d lines:\n%s", what, len(l.all()), strings.Join(l.all(), "\n"))
		}
	}
}

// sampleEvents returns a realistic sequence for clients a, b and c.
func sampleEvents(now time.Time) []events.Envelope {
	var out []events.Envelope
	for i, client := range []string{"a", "b", "c"} {
		connID := fmt.Sprintf("%08d-1111-4111-8111-111111111111", i)
		conn := events.Connection{ClientID: client, ConnID: connID, Node: "fe-1", Epoch: int64(10 + i), Proto: 5}
		sess := events.Session{ClientID: client, ConnID: connID, Node: "fe-1", Epoch: int64(10 + i), Proto: 5}
		out = append(out,
			events.New(events.SessionCreated, "fe-1", client, &events.Created{Session: sess, ExpiryInterval: 60}, now),
			events.New(events.ClientConnected, "fe-1", client, &events.Connected{Connection: conn, ExpiryInterval: 60, KeepAlive: 30, Peer: "127.0.0.1:1"}, now),
			events.New(events.SessionSubscribed, "fe-1", client, &events.Subscribed{Session: sess, Subscriptions: []events.Subscription{{Filter: "x/#", QoS: 1}}}, now),
			events.New(events.ClientDisconnected, "fe-1", client, &events.Disconnected{Connection: conn, Reason: events.DisconnectNormal, DurationMS: 5}, now),
		)
	}
	return out
}

// appendEvents appends envelopes as the session service does.
func appendEvents(t *testing.T, brokers kafkalog.Cluster, topic string, envs []events.Envelope) {
	t.Helper()
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	defer a.Close()
	recs := make([]*kafkalog.Record, 0, len(envs))
	for _, e := range envs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		r := &kafkalog.Record{Topic: topic, Key: e.Key(), Value: b}
		for _, h := range e.Headers() {
			r.Headers = append(r.Headers, kafkalog.Header{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Append(ctx, recs...); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// startTail runs a Tail until the test ends and returns it once ready.
func startTail(t *testing.T, cfg Config, seen func(*kafkalog.Record)) *Tail {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tail, err := NewTail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tail.seen = seen
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tail.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-tail.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("tail not ready")
	}
	return tail
}

// counter counts records handled and signals when n were.
type counter struct {
	mu   sync.Mutex
	n    int
	want int
	done chan struct{}
}

func newCounter(want int) *counter { return &counter{want: want, done: make(chan struct{})} }

func (c *counter) seen(*kafkalog.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.n == c.want {
		close(c.done)
	}
}

func (c *counter) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d records handled", c.n, c.want)
	}
}

// TestTailFilters reads a 4-partition topic from the beginning with each
// filter and checks the output holds exactly the matching events, valid,
// in per-client order.
func TestTailFilters(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 4)
	envs := sampleEvents(time.Now())
	appendEvents(t, brokers, topic, envs)
	// A record that is not a lifecycle event must be skipped, not printed.
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("a"), Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	cancel()
	a.Close()
	total := len(envs) + 1

	tests := []struct {
		name    string
		clients []string
		types   string
		keep    func(e events.Envelope) bool
	}{
		{"all", nil, "", func(events.Envelope) bool { return true }},
		{"one client", []string{"b"}, "", func(e events.Envelope) bool { return e.Subject == "b" }},
		{"two types", nil, "connected,disconnected", func(e events.Envelope) bool {
			return e.Type == events.ClientConnected || e.Type == events.ClientDisconnected
		}},
		{"client and type", []string{"a", "c"}, "session.subscribed", func(e events.Envelope) bool {
			return e.Type == events.SessionSubscribed && e.Subject != "b"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			types, err := ParseTypes(tt.types)
			if err != nil {
				t.Fatal(err)
			}
			out := newLines()
			c := newCounter(total)
			startTail(t, Config{Kafka: brokers, Topic: topic, FromBeginning: true, Clients: tt.clients, Types: types, Out: out, Validate: true}, c.seen)
			c.wait(t)
			var want []string
			for _, e := range envs {
				if tt.keep(e) {
					want = append(want, e.ID)
				}
			}
			got := map[string][]string{}
			var ids []string
			for _, line := range out.all() {
				if err := events.ValidateJSON([]byte(line)); err != nil {
					t.Fatalf("printed event invalid: %v\n%s", err, line)
				}
				e, err := events.Decode([]byte(line))
				if err != nil {
					t.Fatalf("printed line is not an event: %v\n%s", err, line)
				}
				ids = append(ids, e.ID)
				got[e.Subject] = append(got[e.Subject], e.ID)
			}
			slices.Sort(ids)
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("printed ids %v, want %v", ids, want)
			}
			// One client's events are in one partition: printed in order.
			for client, printed := range got {
				var order []string
				for _, e := range envs {
					if e.Subject == client && tt.keep(e) {
						order = append(order, e.ID)
					}
				}
				if !slices.Equal(printed, order) {
					t.Fatalf("client %s printed out of order: %v, want %v", client, printed, order)
				}
			}
		})
	}
}

// TestTailFromLatest checks that without --from-beginning only events
// appended after the start are printed.
func TestTailFromLatest(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 2)
	old := sampleEvents(time.Now())
	appendEvents(t, brokers, topic, old)
	out := newLines()
	startTail(t, Config{Kafka: brokers, Topic: topic, Out: out}, nil)
	fresh := sampleEvents(time.Now())[:2]
	appendEvents(t, brokers, topic, fresh)
	got := out.waitFor(t, "two fresh events", func(l []string) bool { return len(l) >= 2 })
	var ids []string
	for _, line := range got {
		e, err := events.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	want := []string{fresh[0].ID, fresh[1].ID}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("printed %v, want only the fresh events %v", ids, want)
	}
}

// TestTailSummary checks the live summary counts what was appended.
func TestTailSummary(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 4)
	envs := sampleEvents(time.Now())
	// Leave b connected: drop its disconnected event.
	envs = slices.DeleteFunc(envs, func(e events.Envelope) bool {
		return e.Subject == "b" && e.Type == events.ClientDisconnected
	})
	appendEvents(t, brokers, topic, envs)
	out := newLines()
	startTail(t, Config{Kafka: brokers, Topic: topic, FromBeginning: true, Summary: true, Interval: 20 * time.Millisecond, Out: out}, nil)
	want := "online=1 sessions=3 "
	out.waitFor(t, "summary "+want, func(l []string) bool {
		return len(l) > 0 && strings.Contains(l[len(l)-1], want) && strings.Contains(l[len(l)-1], "disconnects: normal=2")
	})
}

// TestTailUntilEnd reads the history and exits by itself: every event
// appended before the start is printed, and Run returns; a summary run
// prints its final line.
func TestTailUntilEnd(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	topic := kafkatest.NewTopic(t, 4)
	envs := sampleEvents(time.Now())
	appendEvents(t, brokers, topic, envs)
	cases := []struct {
		name    string
		summary bool
	}{{"events", false}, {"summary", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := newLines()
			tail, err := NewTail(Config{Kafka: brokers, Topic: topic, FromBeginning: true, UntilEnd: true, Summary: tc.summary, Interval: time.Hour, Out: out})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := tail.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				t.Fatal("Run returned only when its context ended")
			}
			lines := out.all()
			if tc.summary {
				if len(lines) != 1 || !strings.Contains(lines[0], "sessions=3") {
					t.Fatalf("final summary %q", lines)
				}
				return
			}
			if len(lines) != len(envs) {
				t.Fatalf("printed %d events, want %d", len(lines), len(envs))
			}
		})
	}
}
