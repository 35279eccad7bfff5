package frontend

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestDeclaredDown: a node_down op for this frontend's incarnation closes
// the connections of that incarnation (MQTT 5: DISCONNECT 0x8B) and starts
// a new incarnation, which new connections name; node_down ops for other
// nodes or incarnations change nothing.
func TestDeclaredDown(t *testing.T) {
	s, log := newUnitServer(t, nil)
	old := s.heart.Inc()
	c := dialPipe(t, s, mqtt.V5)
	if ack := c.connect(&mqtt.Connect{ClientID: "victim", CleanStart: true}); ack.ReasonCode != mqtt.Success {
		t.Fatalf("connack %v", ack.ReasonCode)
	}
	if op := log.waitOp(t, session.OpConnect); op.Inc != old {
		t.Fatalf("connect op names incarnation %q, want %q", op.Inc, old)
	}
	nodeDown := func(node, inc string) {
		op := &session.Op{Kind: session.OpNodeDown, Node: node, Inc: inc, TS: time.Now().UnixMilli(), Reason: "timeout"}
		s.onSessionOp(op.PartitionRecord(s.cfg.Topics.Sessions, 0))
	}
	nodeDown("other-node", old)
	nodeDown(s.cfg.Node, "another-incarnation")
	if s.heart.Inc() != old {
		t.Fatal("incarnation renewed for another node's or incarnation's node_down")
	}
	nodeDown(s.cfg.Node, old)
	nodeDown(s.cfg.Node, old) // the op of another sessions partition
	p := c.next(5 * time.Second)
	if d, ok := p.(*mqtt.Disconnect); !ok || d.ReasonCode != mqtt.ServerShuttingDown {
		t.Fatalf("got %v, want DISCONNECT 0x8B", p)
	}
	c.closed(5 * time.Second)
	if op := log.waitOp(t, session.OpDisconnect); op.Reason != string(events.DisconnectNodeDown) {
		t.Fatalf("disconnect reason %q, want node_down", op.Reason)
	}
	if s.heart.Inc() == old {
		t.Fatal("incarnation not renewed")
	}
	if got := testutil.ToFloat64(s.m.declaredDown); got != 1 {
		t.Fatalf("declared down counted %v times, want once", got)
	}
	c2 := dialPipe(t, s, mqtt.V5)
	c2.connect(&mqtt.Connect{ClientID: "after", CleanStart: true})
	var got string
	for _, op := range log.ops(t) {
		if op.Kind == session.OpConnect && op.ClientID == "after" {
			got = op.Inc
		}
	}
	if got != s.heart.Inc() {
		t.Fatalf("new connection names incarnation %q, want %q", got, s.heart.Inc())
	}
}

// TestDisconnectCode: the disconnect op carries the client's DISCONNECT
// reason code, from which the session service decides on the will.
func TestDisconnectCode(t *testing.T) {
	for _, code := range []mqtt.ReasonCode{mqtt.NormalDisconnection, mqtt.DisconnectWithWillMessage} {
		s, log := newUnitServer(t, nil)
		c := dialPipe(t, s, mqtt.V5)
		c.connect(&mqtt.Connect{ClientID: "d", CleanStart: true, Will: &mqtt.Will{Topic: "w", Payload: []byte("x")}})
		c.send(&mqtt.Disconnect{ReasonCode: code})
		op := log.waitOp(t, session.OpDisconnect)
		if op.Reason != string(events.DisconnectNormal) || op.Code != byte(code) {
			t.Fatalf("DISCONNECT 0x%02x logged as %s 0x%02x", byte(code), op.Reason, op.Code)
		}
		if w := log.waitOp(t, session.OpConnect).Will; w == nil || w.Topic != "w" {
			t.Fatalf("connect op will %+v", w)
		}
	}
}
