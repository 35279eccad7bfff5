package frontend

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestKafkaOutageNoFalseAck is invariant 1 over real sockets: while the
// Kafka cluster refuses every produce, a QoS 1 PUBLISH gets no PUBACK; when
// the cluster accepts again the pump resumes by itself, the PUBACK comes
// and the message is delivered once. An in-process Kafka-protocol server
// (kfake) stands in for the cluster, because the shared one must never be
// disturbed; the frontend talks to it with the production client code.
func TestKafkaOutageNoFalseAck(t *testing.T) {
	cluster := newKfake(t)

	var down atomic.Bool
	refused := make(chan struct{}, 1024)
	cluster.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !down.Load() {
			return nil, nil, false // let the cluster handle it
		}
		select {
		case refused <- struct{}{}:
		default:
		}
		return nil, errors.New("simulated outage"), true // closes the client connection
	})

	s, err := New(Config{Node: "outage", MQTTAddr: "127.0.0.1:0", Kafka: kafkalog.Plain(cluster.ListenAddrs()...),
		Redis: "127.0.0.1:1", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.reader = fakeSessions{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 30*time.Second, "frontend ready", s.Ready)

	sub := dialTCP(t, addr(s, "mqtt"), mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "sub", CleanStart: true})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: "t", QoS: 1})
	pub := dialTCP(t, addr(s, "mqtt"), mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub", CleanStart: true})

	pub.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("before")})
	if a, ok := pub.next(30 * time.Second).(*mqtt.Puback); !ok || a.PacketID != 1 {
		t.Fatalf("want PUBACK 1, got %#v", a)
	}
	if m := sub.expectPublish(); string(m.Payload) != "before" {
		t.Fatalf("got %q", m.Payload)
	}
	sub.send(&mqtt.Puback{PacketID: 1})

	down.Store(true)
	pub.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: []byte("during")})
	for i := 0; i < 3; i++ {
		select {
		case <-refused:
		case <-time.After(30 * time.Second):
			t.Fatal("no produce attempt reached the cluster")
		}
	}
	select {
	case p := <-pub.pkts:
		t.Fatalf("got %v while the cluster refuses produce", p)
	default:
	}
	down.Store(false)
	if a, ok := pub.next(30 * time.Second).(*mqtt.Puback); !ok || a.PacketID != 2 {
		t.Fatalf("want PUBACK 2 after the outage, got %#v", a)
	}
	m := sub.expectPublish()
	if string(m.Payload) != "during" {
		t.Fatalf("got %q, want during", m.Payload)
	}
	sub.send(&mqtt.Puback{PacketID: m.PacketID})
	sub.quiet(500 * time.Millisecond)
}

// newKfake starts an in-process Kafka-protocol server holding the default
// topics, closed with the test.
func newKfake(t *testing.T) *kfake.Cluster {
	t.Helper()
	topics := DefaultTopics()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(4, topics.Messages, topics.Sessions, topics.Lifecycle),
		kfake.SeedTopics(1, topics.Retained))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	return cluster
}
