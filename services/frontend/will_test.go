package frontend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// sessionsFunc is a sessionReader made of a function.
type sessionsFunc func(ctx context.Context, cid string, epoch int64) (session.State, error)

func (f sessionsFunc) WaitApplied(ctx context.Context, cid string, epoch int64) (session.State, error) {
	return f(ctx, cid, epoch)
}

// TestWillOnlyForAcceptedConnections: a will belongs to an accepted
// connection (SESSIONS.md, "Wills"). The session service publishes it from
// the connection's disconnect op, so a CONNECT whose session could not be
// applied in time (CONNACK 0x88) or that a newer CONNECT superseded before
// its CONNACK logs its end as unaccepted; an accepted connection that dies
// does not (the control that shows the check can fail).
func TestWillOnlyForAcceptedConnections(t *testing.T) {
	cases := []struct {
		name       string
		sessions   sessionsFunc
		want       mqtt.ReasonCode // CONNACK code; 0xFF: closed without one
		unaccepted bool
	}{
		{"accepted", func(_ context.Context, _ string, e int64) (session.State, error) {
			return session.State{Epoch: e}, nil
		}, mqtt.Success, false},
		{"session not applied in time", func(context.Context, string, int64) (session.State, error) {
			return session.State{}, context.DeadlineExceeded
		}, mqtt.ServerUnavailable, true},
		{"superseded before its connack", func(context.Context, string, int64) (session.State, error) {
			return session.State{}, session.ErrSuperseded
		}, 0xFF, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, log := newUnitServer(t, nil)
			s.reader = tc.sessions
			c := dialPipe(t, s, mqtt.V5)
			c.send(&mqtt.Connect{Version: mqtt.V5, ClientID: "dev", KeepAlive: 30,
				Will: &mqtt.Will{Topic: fmt.Sprintf("will/%d", time.Now().UnixNano()), Payload: []byte("gone"), QoS: 1}})
			p := c.next(10 * time.Second)
			switch ack, ok := p.(*mqtt.Connack); {
			case tc.want == 0xFF && p != nil:
				t.Fatalf("got %v, want the connection closed without CONNACK", p)
			case tc.want != 0xFF && (!ok || ack.ReasonCode != tc.want):
				t.Fatalf("got %v, want CONNACK 0x%02x", p, byte(tc.want))
			}
			c.nc.Close() // an accepted connection dies without DISCONNECT
			op := log.waitOp(t, session.OpDisconnect)
			if op.Unaccepted != tc.unaccepted {
				t.Fatalf("disconnect op unaccepted = %v, want %v", op.Unaccepted, tc.unaccepted)
			}
		})
	}
}
