package frontend

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// followerGate holds a frontend's messages follower back while held, as a
// follower that lags behind the other frontends' would be.
type followerGate struct {
	mu   sync.Mutex
	open chan struct{} // nil while records pass
}

func (g *followerGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = make(chan struct{})
	}
}

func (g *followerGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
}

func (g *followerGate) wrap(next func(*kafkalog.Record)) func(*kafkalog.Record) {
	return func(r *kafkalog.Record) {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		if open != nil {
			<-open
		}
		next(r)
	}
}

// publishQoS2 publishes one QoS 2 message and completes its exchange.
func publishQoS2(t *testing.T, c *pipeClient, pid uint16, topic, payload string) {
	t.Helper()
	c.send(&mqtt.Publish{Topic: topic, QoS: 2, PacketID: pid, Payload: []byte(payload)})
	if p, ok := c.next(30 * time.Second).(*mqtt.Pubrec); !ok || p.PacketID != pid {
		t.Fatalf("publish %s: got %v, want PUBREC %d", payload, p, pid)
	}
	c.send(&mqtt.Pubrel{PacketID: pid})
	if p, ok := c.next(30 * time.Second).(*mqtt.Pubcomp); !ok || p.PacketID != pid {
		t.Fatalf("publish %s: got %v, want PUBCOMP %d", payload, p, pid)
	}
}

// TestResumeOnLaggingFrontend: a persistent session resumes on a frontend
// whose messages follower is behind the one it left, so live dispatch
// there still offers records the session completed, holds inflight, or
// has queued. Each QoS 2 message reaches the client once: the completed
// ones not again, the inflight ones only as DUP resends under their packet
// ids (or their PUBREL), the queued ones once, from the queue.
func TestResumeOnLaggingFrontend(t *testing.T) {
	st := newStack(t)
	fast := func(cfg *Config) { cfg.ProgressInterval = 50 * time.Millisecond }
	a, _ := st.frontendWith("A", fast)
	gate := &followerGate{}
	b, _ := st.frontendHooked("B", fast, func(s *Server) { s.onMessage = gate.wrap(s.onMessage) })
	t.Cleanup(gate.release) // before the frontends stop
	topic := uniqueTopic(t)
	const cid = "lagging-resume"
	expiry := mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(300))}

	sub := dialTCP(t, addr(a, "mqtt"), mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: cid, CleanStart: true, Properties: expiry})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: topic, QoS: 2})
	gate.hold()

	pub := dialTCP(t, addr(a, "mqtt"), mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: cid + "-pub", CleanStart: true})
	for i := range 6 {
		publishQoS2(t, pub, uint16(i+1), topic, fmt.Sprintf("m%d", i))
	}
	// On A: m0 and m1 completed, m2 and m3 past PUBREC, m4 and m5 unanswered.
	pids := map[string]uint16{}
	for range 6 {
		p := sub.expectPublish()
		pids[string(p.Payload)] = p.PacketID
	}
	for i := range 4 {
		sub.send(&mqtt.Pubrec{PacketID: pids[fmt.Sprintf("m%d", i)]})
	}
	for i := range 4 {
		if p, ok := sub.next(30 * time.Second).(*mqtt.Pubrel); !ok || p.PacketID != pids[fmt.Sprintf("m%d", i)] {
			t.Fatalf("got %v, want PUBREL of m%d", p, i)
		}
	}
	for i := range 2 {
		sub.send(&mqtt.Pubcomp{PacketID: pids[fmt.Sprintf("m%d", i)]})
	}
	sub.send(&mqtt.Disconnect{})
	sub.closed(30 * time.Second)

	// Offline: m6 and m7 are queued by the session service, whose follower
	// is not held.
	for i := 6; i < 8; i++ {
		publishQoS2(t, pub, uint16(i+1), topic, fmt.Sprintf("m%d", i))
	}
	rdb := redis.NewClient(&redis.Options{Addr: st.redis})
	t.Cleanup(func() { rdb.Close() })
	reader := session.NewReaderOptions(rdb, session.Options{Prefix: st.prefix})
	n, err := kafkalog.Partitions(context.Background(), st.kafka, st.topics.Sessions)
	if err != nil {
		t.Fatal(err)
	}
	var state session.State
	waitFor(t, 30*time.Second, "m6 and m7 queued", func() bool {
		state, err = reader.Load(context.Background(), session.Partition(cid, len(n)), cid)
		return err == nil && len(pendingQueue(&state)) == 2
	})
	t.Logf("state at resume: cursor %v, inflight %v, queue %v", state.Cursor, state.Inflight, state.Queue)

	again := dialTCP(t, addr(b, "mqtt"), mqtt.V5)
	if ack := again.connect(&mqtt.Connect{ClientID: cid, Properties: expiry}); !ack.SessionPresent {
		t.Fatal("session not present on B")
	}
	got := map[string]int{}
	done := false
	handle := func(p mqtt.Packet) {
		switch p := p.(type) {
		case *mqtt.Publish:
			key := string(p.Payload)
			got[key]++
			if want, had := pids[key]; had && (!p.Dup || p.PacketID != want) {
				t.Errorf("%s sent again as dup=%v packet id %d, want a DUP resend with %d", key, p.Dup, p.PacketID, want)
			}
			again.send(&mqtt.Pubrec{PacketID: p.PacketID})
			done = done || key == "m8"
		case *mqtt.Pubrel:
			again.send(&mqtt.Pubcomp{PacketID: p.PacketID})
		case nil:
			t.Fatal("B closed the connection")
		}
	}
	// What replay sends: PUBREL for m2 and m3, m4 and m5 again, m6 and m7.
	for len(got) < 4 {
		handle(again.next(30 * time.Second))
	}
	// Now B's follower catches up and offers m0..m7 live; m8 comes after
	// them in the same partition, so once it arrived every one of them was
	// either written before it or not at all.
	gate.release()
	publishQoS2(t, pub, 9, topic, "m8")
	for !done {
		handle(again.next(30 * time.Second))
	}
	for i := range 9 {
		key := fmt.Sprintf("m%d", i)
		want := 1
		if i < 4 {
			want = 0 // completed, or past PUBREC, on A
		}
		if got[key] != want {
			t.Errorf("%s delivered %d times on B, want %d", key, got[key], want)
		}
	}
}
