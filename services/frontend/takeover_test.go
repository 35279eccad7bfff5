package frontend

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// TestRegisterAfterNewerConnect covers the window between sending a connect
// op and learning its offset: the takeover watch may read a newer CONNECT
// for the same ClientID (logged by another frontend) in that window, when
// there is no epoch to compare it with yet. The connection must then lose,
// whatever order the two frontends see things in.
func TestRegisterAfterNewerConnect(t *testing.T) {
	connectOp := func(cid string, off int64) *kafkalog.Record {
		return &kafkalog.Record{Key: []byte(cid), Offset: off,
			Headers: []kafkalog.Header{{Key: session.HeaderOp, Value: []byte(session.OpConnect)}}}
	}
	cases := []struct {
		name    string
		seen    []int64 // connect ops the watch reads before the append returns
		epoch   int64   // the offset the append returns
		wantWin bool
	}{
		{"nothing seen", nil, 10, true},
		{"own op seen", []int64{10}, 10, true},
		{"older op seen", []int64{7}, 10, true},
		{"newer op seen", []int64{10, 11}, 10, false},
		{"newer op seen before own", []int64{11}, 10, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), opsSeen: newOpWatermark(),
				clients: map[string]*conn{}, logging: map[string][]*conn{}, heart: liveness.NewHeart(nil, liveness.HeartConfig{})}
			c := &conn{s: s, clientID: "dev"}
			c.epoch.Store(-1)
			s.expect(c)
			for _, off := range tc.seen {
				s.onSessionOp(connectOp("dev", off))
			}
			c.epoch.Store(tc.epoch)
			if got := s.register(c); got != tc.wantWin {
				t.Fatalf("register = %v, want %v", got, tc.wantWin)
			}
			if got := s.clients["dev"] == c; got != tc.wantWin {
				t.Fatalf("registered as the ClientID's connection = %v, want %v", got, tc.wantWin)
			}
			if len(s.logging) != 0 {
				t.Fatalf("connection still listed as logging: %v", s.logging)
			}
		})
	}
}

// TestNoQoS2PublishAfterTakeover: a QoS 2 PUBLISH waits for its qos2_out op
// and for the takeover watch to read past it. When a newer connection's
// connect op comes first, the watch ends this connection, and the PUBLISH
// must not be written even if the op's result reaches the loop in the same
// turn as the end: the session service ignores the fenced op, so the newer
// connection sends the message under a packet id of its own, and the
// client would have it twice.
func TestNoQoS2PublishAfterTakeover(t *testing.T) {
	s, log := newUnitServer(t, nil)
	sub := dialPipe(t, s, mqtt.V5)
	sub.connect(&mqtt.Connect{ClientID: "dev", CleanStart: true})
	subscribe(t, sub, 1, mqtt.Subscription{Filter: "t", QoS: 2})
	sc := sub.serverConn(t, s)

	held := log.holdWhere(func(r *kafkalog.Record) bool {
		op, _ := r.Header(session.HeaderOp)
		return string(op) == session.OpQoS2Out
	})
	feed(s, 0, 0, "t", 2, "pub", "once")
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no qos2_out op appended")
	}

	// Hold the loop off, as the scheduler may, so that the end and the
	// op's result reach it in the same turn: the inbox is marked as having
	// a loop while none runs.
	waitFor(t, 10*time.Second, "the loop idle", func() bool {
		sc.in.mu.Lock()
		defer sc.in.mu.Unlock()
		if sc.in.running {
			return false
		}
		sc.in.running = true
		return true
	})
	// Another frontend's CONNECT for the same ClientID, logged before the
	// qos2_out op: the watch ends the connection as it reads it.
	connect := &kafkalog.Record{Topic: s.cfg.Topics.Sessions, Key: []byte("dev"),
		Headers: []kafkalog.Header{{Key: session.HeaderOp, Value: []byte(session.OpConnect)}}}
	if err := log.Append(context.Background(), connect); err != nil {
		t.Fatal(err)
	}
	if sc.cause() == nil {
		t.Fatal("the takeover watch did not end the connection")
	}
	close(log.unhang)
	// The ops lane stops once it has posted every result: the qos2_out
	// op's among them (a progress tick may have posted one before it).
	waitFor(t, 10*time.Second, "the qos2_out result posted", func() bool {
		sc.opsL.mu.Lock()
		defer sc.opsL.mu.Unlock()
		return !sc.opsL.running
	})
	sc.in.mu.Lock()
	sc.in.running = false
	sc.in.mu.Unlock()
	sc.post(nil) // the loop runs again, and finds both

	for {
		switch p := sub.next(10 * time.Second).(type) {
		case nil:
			return // closed, and no PUBLISH came
		case *mqtt.Publish:
			t.Fatalf("PUBLISH %d written after the takeover", p.PacketID)
		case *mqtt.Disconnect:
			if p.ReasonCode != mqtt.SessionTakenOver {
				t.Fatalf("DISCONNECT %v, want session taken over", p.ReasonCode)
			}
		}
	}
}
