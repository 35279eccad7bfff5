package frontend

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// closeGuard is the server's appender with a check that nothing appends
// once Run closed it. Appends of ops of kind slow take a while first, as
// they may when Kafka is busy, so that work still under way at shutdown
// shows.
type closeGuard struct {
	appender
	slow   string
	mu     sync.Mutex
	closed bool
	late   []string
}

func (g *closeGuard) Append(ctx context.Context, recs ...*kafkalog.Record) error {
	for _, r := range recs {
		if h, _ := r.Header(session.HeaderOp); string(h) == g.slow {
			time.Sleep(500 * time.Millisecond)
			break
		}
	}
	g.mu.Lock()
	if g.closed {
		for _, r := range recs {
			g.late = append(g.late, r.Topic+" "+string(r.Key))
		}
	}
	g.mu.Unlock()
	return g.appender.Append(ctx, recs...)
}

func (g *closeGuard) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return g.appender.Close()
}

// TestRunLeavesNothingRunning: once Run returns, no goroutine of the
// frontend is left (connections' loops, lanes and replayers, share groups,
// left ones included) and nothing was appended through the closed
// appender. The connections cover each of those at shutdown: final ops
// still being appended (slowly) during the drain, a share that was left
// and one still joined.
func TestRunLeavesNothingRunning(t *testing.T) {
	// Real Kafka topics, and no session service: its goroutines would be
	// told apart from the frontend's by nothing. Sessions apply at once.
	kc := kafkatest.Cluster(t)
	topics := Topics{
		Messages:  kafkatest.NewTopic(t, 4),
		Sessions:  kafkatest.NewTopic(t, 4),
		Lifecycle: kafkatest.NewTopic(t, 4),
		Retained:  kafkatest.NewTopicSpec(t, kafkalog.TopicSpec{Partitions: 1, Compact: true}),
	}
	ignore := goleak.IgnoreCurrent()
	s, err := New(Config{
		Node: "fe-leak", MQTTAddr: "127.0.0.1:0", Kafka: kc, Redis: "127.0.0.1:1", Topics: topics,
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.reader = fakeSessions{}
	base := uniqueTopic(t)
	guard := &closeGuard{appender: s.app, slow: session.OpDisconnect}
	s.app = guard
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 60*time.Second, "frontend ready", s.Ready)

	dial := func(id string, will *mqtt.Will) *pipeClient {
		c := dialTCP(t, addr(s, "mqtt"), mqtt.V5)
		cp := &mqtt.Connect{ClientID: id + "-" + t.Name(), CleanStart: true, KeepAlive: 60, Will: will,
			Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(3600))}}
		if ack := c.connect(cp); ack.ReasonCode != mqtt.Success {
			t.Fatalf("%s: CONNACK 0x%02x", id, byte(ack.ReasonCode))
		}
		return c
	}
	dial("at-shutdown", nil)
	left := dial("left-share", nil)
	subscribe(t, left, 1, mqtt.Subscription{Filter: "$share/left/" + base + "/#", QoS: 1})
	left.send(&mqtt.Unsubscribe{PacketID: 2, Filters: []string{"$share/left/" + base + "/#"}})
	if _, ok := left.next(30 * time.Second).(*mqtt.Unsuback); !ok {
		t.Fatal("want UNSUBACK")
	}
	joined := dial("joined-share", nil)
	subscribe(t, joined, 1, mqtt.Subscription{Filter: "$share/joined/" + base + "/#", QoS: 1})

	cancel()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return")
	}
	// The package's shared Kafka connections (range reads, bounds) belong
	// to the process, not to the server: dropped first. goleak looks again
	// for about a second before it reports.
	kafkalog.CloseIdleConnections()
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left after Run returned: %v", err)
	}
	guard.mu.Lock()
	defer guard.mu.Unlock()
	if len(guard.late) > 0 {
		t.Errorf("appended after the appender closed: %s", fmt.Sprint(guard.late))
	}
}

// TestLeftShareJoinedByRun: the last member leaving a share does not wait
// for the consumer group to be left (that is Kafka's time, not the
// client's), but Run does: when the LeaveGroup answer is slow, Run returns
// only after the left group's goroutines did. An in-process
// Kafka-protocol server (kfake) stands in for the cluster here, because
// only it can be told to hold a LeaveGroup request; the frontend talks to
// it with the production client code.
func TestLeftShareJoinedByRun(t *testing.T) {
	cluster := newKfake(t)
	cluster.ControlKey(kmsg.LeaveGroup.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		cluster.SleepControl(func() { time.Sleep(3 * time.Second) })
		return nil, nil, false // then let the cluster answer
	})
	ignore := goleak.IgnoreCurrent()
	s, err := New(Config{Node: "left-share", MQTTAddr: "127.0.0.1:0", Kafka: kafkalog.Plain(cluster.ListenAddrs()...),
		Redis: "127.0.0.1:1", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.reader = fakeSessions{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 30*time.Second, "frontend ready", s.Ready)

	c := dialTCP(t, addr(s, "mqtt"), mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "member", CleanStart: true})
	subscribe(t, c, 1, mqtt.Subscription{Filter: "$share/g/t/#", QoS: 1})
	waitFor(t, 30*time.Second, "share partitions assigned", func() bool { return assignedShares(s) == 4 })
	c.send(&mqtt.Unsubscribe{PacketID: 2, Filters: []string{"$share/g/t/#"}})
	if _, ok := c.next(10 * time.Second).(*mqtt.Unsuback); !ok {
		t.Fatal("want UNSUBACK")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	kafkalog.CloseIdleConnections()
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("goroutines left after Run returned: %v", err)
	}
}
