package frontend

import (
	"fmt"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// BenchmarkDeliveryPath measures the frontend's per-message delivery path
// without sockets or Kafka: a record read from the messages topic is
// matched against the router's index (100k other subscriptions in it),
// decoded once, queued in each matching session's outbox, taken by the
// writer's logic and encoded as the PUBLISH the writer would write; the
// client's PUBACK then completes it. ns/op is per record, so the fan-out
// cases divide by the subscriber count for the cost per delivery.
//
//	go test -run '^$' -bench DeliveryPath -benchmem ./services/frontend
func BenchmarkDeliveryPath(b *testing.B) {
	for _, tc := range []struct {
		subs int
		qos  byte
	}{
		{1, 0}, {1, 1}, {100, 1},
	} {
		b.Run(fmt.Sprintf("subscribers=%d/qos=%d", tc.subs, tc.qos), func(b *testing.B) {
			s := &Server{cfg: Config{Auth: AllowAll{}}}
			r := newRouter()
			// The rest of the index: 100k subscriptions of one other
			// session on topics this record does not match.
			other := benchConn(s, "other")
			for i := range 100_000 {
				r.idx.Subscribe(other, fmt.Sprintf("site/%d/dev/%d/telemetry", i/100, i%100), session.Subscription{QoS: 1})
			}
			conns := make([]*conn, tc.subs)
			for i := range conns {
				conns[i] = benchConn(s, fmt.Sprintf("sub-%d", i))
				r.attach(conns[i], []session.Subscription{{Filter: "bench/+/temp", QoS: tc.qos}})
			}
			rec := publishRecord("mqtt.messages", "pub", &mqtt.Publish{Topic: "bench/1/temp", QoS: tc.qos, Payload: make([]byte, 64)}, time.Now())
			buf := make([]byte, 0, 4096)
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				rec.Offset = int64(i)
				r.dispatch(rec)
				for _, c := range conns {
					c.pullLive()
					bt := c.out.take(now, c.allowed)
					c.liveDone(bt.liveLeft)
					if len(bt.pkts) != 1 {
						b.Fatalf("took %d packets, want 1", len(bt.pkts))
					}
					var err error
					if buf, err = mqtt.AppendPacket(buf[:0], bt.pkts[0], c.version); err != nil {
						b.Fatal(err)
					}
					if p := bt.pkts[0].(*mqtt.Publish); p.QoS == 1 {
						c.out.puback(p.PacketID)
					} else {
						c.out.written(&bt)
					}
				}
			}
		})
	}
}

// benchConn is a connected 3.1.1 session as far as delivery needs one:
// its loop never runs, the test takes its inbox's place.
func benchConn(s *Server, id string) *conn {
	c := &conn{s: s, clientID: id, version: mqtt.V311, out: newOutbox(65535)}
	c.out.replaying = false
	c.in.running = true
	c.in.maxPending = 1 << 20
	return c
}

// offered takes the live deliveries offered to c.
func (c *conn) offered() []*delivery {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	live := c.in.live
	c.in.live = nil
	c.in.liveQueued -= len(live)
	return live
}
