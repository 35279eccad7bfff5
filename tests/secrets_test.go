package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// syncBuffer is a bytes.Buffer for concurrent log writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsStayOut: clients connect with known passwords (right and
// wrong), publish known payloads (QoS 0, 1, retained) and leave a will
// that is published; the frontends log at debug level into a buffer, the
// lifecycle topic is read raw and spans are recorded in memory. No
// password and no payload appears in any of them, and the user name
// appears in events only in the fields the schema has for it
// (data.username) and nowhere in logs or spans.
func TestSecretsStayOut(t *testing.T) {
	const (
		user     = "dave"
		password = "pw-Zq8vR2-dave"
		wrong    = "pw-Wr0ng-guess"
	)
	payloads := []string{"PAYLOAD-q0-7f3a", "PAYLOAD-q1-91cc", "PAYLOAD-retained-5e1d", "PAYLOAD-will-c0de"}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	var logs syncBuffer
	a := newAuthSetupWith(t, "cn", map[string]string{user: password}, func(i int, cfg *frontend.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("svc", fmt.Sprintf("fe-%d", i))
	})
	writeAtomic(t, a.acl, testACL+"\nuser "+user+"\ntopic readwrite secret/#\n")

	// The raw lifecycle records, as a consumer of the topic sees them.
	var evMu sync.Mutex
	var raw [][]byte
	ctx, cancel := context.WithCancel(context.Background())
	f := kafkalog.NewFollower(a.c.kafka, kafkalog.FollowerOptions{Topic: a.c.topics.Lifecycle, Default: kafkalog.Earliest},
		func(r *kafkalog.Record) {
			evMu.Lock()
			raw = append(raw, append([]byte(nil), r.Value...))
			evMu.Unlock()
		})
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The ACL above may still be reloading: retry the subscription.
	sub := dialRaw(t, a.plain, mqtt.V5)
	if got := sub.connack(v5Connect("secret-sub", user, password)); got != mqtt.Success {
		t.Fatalf("subscriber CONNACK 0x%02x", byte(got))
	}
	deadline := time.Now().Add(waitFor)
	for id := uint16(1); sub.subscribe(id, "secret/#")[0] != mqtt.GrantedQoS1; id++ {
		if time.Now().After(deadline) {
			t.Fatal("secret/# not granted after the ACL change")
		}
		time.Sleep(100 * time.Millisecond)
	}

	bad := dialRaw(t, a.plain, mqtt.V5)
	if got := bad.connack(v5Connect("secret-bad", user, wrong)); got != mqtt.BadUsernameOrPassword {
		t.Fatalf("wrong password: CONNACK 0x%02x", byte(got))
	}
	if code, _ := pahoConnect(t, "tcp://"+a.plain, "secret-bad-v3", user, wrong, nil); code != 0x04 {
		t.Fatalf("wrong password 3.1.1: CONNACK 0x%02x", code)
	}

	pub := dialRaw(t, a.plain, mqtt.V5)
	cp := v5Connect("secret-pub", user, password)
	cp.Will = &mqtt.Will{Topic: "secret/will", Payload: []byte(payloads[3]), QoS: 1}
	if got := pub.connack(cp); got != mqtt.Success {
		t.Fatalf("publisher CONNACK 0x%02x", byte(got))
	}
	pub.send(&mqtt.Publish{Topic: "secret/a", Payload: []byte(payloads[0])})
	pub.publish1(1, "secret/b", payloads[1])
	pub.send(&mqtt.Publish{PacketID: 2, QoS: 1, Retain: true, Topic: "secret/c", Payload: []byte(payloads[2])})
	pub.read() // PUBACK
	// Gone without DISCONNECT: the will is published.
	pub.nc.Close()

	seen := sub.readPublishes(func(seen map[string]int) bool {
		return seen["secret/a"] > 0 && seen["secret/b"] > 0 && seen["secret/c"] > 0 && seen["secret/will"] > 0
	})
	t.Logf("delivered: %v", seen)
	sub.send(&mqtt.Disconnect{})

	// Wait for the events of every client above, and for the frontends to
	// have finished both session connections: "connection ended" is their
	// last log line, written after the connection's spans ended.
	deadline = time.Now().Add(waitFor)
	for {
		evMu.Lock()
		all := string(bytes.Join(raw, []byte("\n")))
		evMu.Unlock()
		if strings.Contains(all, `"secret-bad"`) && strings.Contains(all, `"secret-bad-v3"`) &&
			strings.Count(all, "mqtt.client.disconnected") >= 2 &&
			strings.Count(logs.String(), `"msg":"connection ended"`) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lifecycle events incomplete after %v", waitFor)
		}
		time.Sleep(100 * time.Millisecond)
	}

	secrets := append([]string{password, wrong}, payloads...)
	var spanText strings.Builder
	for _, s := range rec.Ended() {
		fmt.Fprintf(&spanText, "%s %v %v %v\n", s.Name(), s.Attributes(), s.Events(), s.Status())
	}
	evMu.Lock()
	events := raw
	evMu.Unlock()
	var eventText strings.Builder
	for _, e := range events {
		eventText.Write(e)
		eventText.WriteByte('\n')
	}
	for what, text := range map[string]string{"logs": logs.String(), "events": eventText.String(), "spans": spanText.String()} {
		if text == "" {
			t.Errorf("no %s captured: the test would prove nothing", what)
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the secret %q", what, s)
			}
		}
	}
	if strings.Contains(logs.String(), user) {
		t.Errorf("logs name the user %q", user)
	}
	if strings.Contains(spanText.String(), user) {
		t.Errorf("spans name the user %q", user)
	}
	// In events, the user name only as data.username.
	named := 0
	for _, e := range events {
		var env map[string]any
		if err := json.Unmarshal(e, &env); err != nil {
			t.Fatalf("event %s: %v", e, err)
		}
		data, _ := env["data"].(map[string]any)
		if data["username"] == user {
			named++
			delete(data, "username")
		}
		if b, _ := json.Marshal(env); bytes.Contains(b, []byte(user)) {
			t.Errorf("event names %q outside data.username: %s", user, e)
		}
	}
	if named == 0 {
		t.Error("no event carries the user name in data.username: the check above proved nothing")
	}
}
