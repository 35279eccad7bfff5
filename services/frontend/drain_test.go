package frontend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// gateAuth holds every CONNECT in the Authorizer until open is closed, so a
// test can act while connections are in the middle of CONNECT.
type gateAuth struct {
	AllowAll
	entered chan struct{}
	open    chan struct{}
}

func (g *gateAuth) Connect(ctx context.Context, c ConnectInfo) (string, error) {
	g.entered <- struct{}{}
	<-g.open
	return c.Username, nil
}

// TestDrainWhileConnecting: a drain (server shutdown) kills connections that
// are still handling their CONNECT. Under the race detector this catches a
// kill reading connection fields the CONNECT is writing; each such
// connection ends without a successful CONNACK.
func TestDrainWhileConnecting(t *testing.T) {
	const n = 8
	gate := &gateAuth{entered: make(chan struct{}, n), open: make(chan struct{})}
	s, _ := newUnitServer(t, func(cfg *Config) { cfg.Auth = gate })
	clients := make([]*pipeClient, n)
	for i := range clients {
		clients[i] = dialPipe(t, s, mqtt.V5)
		clients[i].send(&mqtt.Connect{Version: mqtt.V5, ClientID: fmt.Sprintf("dev-%d", i), CleanStart: true, KeepAlive: 30})
	}
	// Polled by length, not received from: a receive would order the
	// CONNECTs' writes before the drain and hide a race from the detector.
	waitFor(t, 10*time.Second, "CONNECTs in the Authorizer", func() bool { return len(gate.entered) == n })
	drained := make(chan struct{})
	go func() { defer close(drained); s.drain() }()
	// Every connection has its cause before the CONNECTs go on.
	waitFor(t, 10*time.Second, "every connection killed", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		killed := 0
		for c := range s.conns {
			if c.cause() != nil {
				killed++
			}
		}
		return killed == n
	})
	close(gate.open)
	select {
	case <-drained:
	case <-time.After(20 * time.Second):
		t.Fatal("drain did not end")
	}
	for i, c := range clients {
		for p := c.next(10 * time.Second); p != nil; p = c.next(10 * time.Second) {
			if ack, ok := p.(*mqtt.Connack); ok && ack.ReasonCode == mqtt.Success {
				t.Errorf("client %d: accepted by a draining frontend", i)
			}
		}
	}
}
