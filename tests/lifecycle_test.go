package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// Shorthands for the steps of the SESSIONS.md §3 tables.
var (
	created             = step{Type: events.SessionCreated}
	resumed             = step{Type: events.SessionResumed}
	connectedFresh      = step{events.ClientConnected, "present=false"}
	connectedPresent    = step{events.ClientConnected, "present=true"}
	disconnectedNormal  = step{events.ClientDisconnected, string(events.DisconnectNormal)}
	disconnectedDiscard = step{events.ClientDisconnected, string(events.DisconnectDiscarded)}
	disconnectedTaken   = step{events.ClientDisconnected, string(events.DisconnectTakenOver)}
	terminatedNormal    = step{events.SessionTerminated, string(events.TerminateNormal)}
	terminatedConflict  = step{events.SessionTerminated, string(events.TerminateConflict)}
	terminatedExpired   = step{events.SessionTerminated, string(events.TerminateExpired)}
	terminatedDiscarded = step{events.SessionTerminated, string(events.TerminateDiscarded)}
)

// TestCleanSessionConnectDisconnect covers the CleanSession = 1 rows
// "connect" and "normal disconnect".
func TestCleanSessionConnectDisconnect(t *testing.T) {
	c := newCluster(t, options{frontends: 1})
	{
		cl, present := c.dial(0, "clean-1", true)
		if present {
			t.Error("Session Present set for a clean session")
		}
		c.life.waitSteps("clean-1", created, connectedFresh)
		cl.disconnect()
		c.life.waitSteps("clean-1", created, connectedFresh, disconnectedNormal, terminatedNormal)
		c.life.waitPaired("clean-1")
	}
}

// TestCleanSessionConflict covers the CleanSession = 1 conflict row: the
// same ClientID connects on another frontend, the newer connection wins.
func TestCleanSessionConflict(t *testing.T) {
	c := newCluster(t, options{})
	{
		old, _ := c.dial(0, "clean-2", true)
		c.life.waitSteps("clean-2", created, connectedFresh)
		cl, present := c.dial(1, "clean-2", true)
		if present {
			t.Error("Session Present set for a clean session")
		}
		old.waitLost()
		evs := c.life.waitSteps("clean-2", created, connectedFresh,
			disconnectedDiscard, terminatedConflict, created, connectedFresh)
		first := evs[1].Data.(*events.Connected)
		kicked := evs[2].Data.(*events.Disconnected)
		second := evs[5].Data.(*events.Connected)
		if kicked.ConnID != first.ConnID {
			t.Errorf("disconnected names connection %s, want the older %s", kicked.ConnID, first.ConnID)
		}
		if first.Node == second.Node {
			t.Errorf("both connections on node %s; the test needs two frontends", first.Node)
		}
		if second.Epoch <= first.Epoch {
			t.Errorf("epoch did not grow: %d then %d", first.Epoch, second.Epoch)
		}
		cl.disconnect()
		c.life.waitPaired("clean-2")
	}
}

// TestPersistentSessionLifecycle covers the CleanSession = 0 table: first
// connect, disconnect without termination, N-th connect with Session
// Present, and a conflict that resumes instead of recreating.
func TestPersistentSessionLifecycle(t *testing.T) {
	c := newCluster(t, options{})
	const id = "persist-1"

	cl, present := c.dial(0, id, false)
	if present {
		t.Error("Session Present on the first connect")
	}
	c.life.waitSteps(id, created, connectedFresh)
	cl.disconnect()
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal)

	cl, present = c.dial(1, id, false)
	if !present {
		t.Error("Session Present not set on the second connect")
	}
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, resumed, connectedPresent)

	// Conflict: the same ClientID connects on the other frontend.
	next, present := c.dial(0, id, false)
	if !present {
		t.Error("Session Present not set on takeover")
	}
	cl.waitLost()
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, resumed, connectedPresent,
		disconnectedTaken, resumed, connectedPresent)
	next.disconnect()
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, resumed, connectedPresent,
		disconnectedTaken, resumed, connectedPresent, disconnectedNormal)
	c.life.waitPaired(id)
}

// TestPersistentSessionExpires: a session that outlives its expiry while
// offline is terminated with reason expired, and a later connect starts a
// new one.
func TestPersistentSessionExpires(t *testing.T) {
	c := newCluster(t, options{defaultExpiry: 2 * time.Second})
	const id = "expire-1"
	cl, _ := c.dial(0, id, false)
	cl.disconnect()
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, terminatedExpired)

	cl, present := c.dial(1, id, false)
	if present {
		t.Error("Session Present after the session expired")
	}
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, terminatedExpired, created, connectedFresh)
	cl.disconnect()
	c.life.waitPaired(id)
}

// TestSwitchToCleanDiscards: a client that had a persistent session and
// connects with CleanSession=1 discards it.
func TestSwitchToCleanDiscards(t *testing.T) {
	c := newCluster(t, options{})
	const id = "switch-1"
	cl, _ := c.dial(0, id, false)
	cl.disconnect()
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal)
	cl, present := c.dial(1, id, true)
	if present {
		t.Error("Session Present for a clean connect")
	}
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, terminatedDiscarded, created, connectedFresh)
	cl.disconnect()
	c.life.waitSteps(id, created, connectedFresh, disconnectedNormal, terminatedDiscarded, created, connectedFresh,
		disconnectedNormal, terminatedNormal)
}

// TestRefusedConnectCreatesNoSession: refused CONNECTs get the CONNACK
// code their version defines, create no session, and are announced with
// that code: an unsupported protocol level (0x01) and, in 3.1.1, an empty
// ClientID with CleanSession=0 (0x02). Neither names a usable ClientID, so
// their events have no subject.
func TestRefusedConnectCreatesNoSession(t *testing.T) {
	c := newCluster(t, options{frontends: 1})
	cases := []struct {
		name    string
		connect []byte
		code    byte
	}{{
		name: "unsupported protocol level",
		connect: []byte{
			0x10, 0x15, // CONNECT, remaining length 21
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x06,       // protocol level 6: unsupported
			0x02,       // flags: CleanSession
			0x00, 0x1e, // keep alive 30 s
			0x00, 0x09, 'r', 'e', 'f', 'u', 's', 'e', 'd', '-', '1', // ClientID
		},
		code: 0x01,
	}, {
		name: "empty ClientID without CleanSession",
		connect: []byte{
			0x10, 0x0c, // CONNECT, remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4 (3.1.1)
			0x00,       // flags: CleanSession=0
			0x00, 0x1e, // keep alive 30 s
			0x00, 0x00, // ClientID: empty
		},
		code: 0x02,
	}}
	var want []step
	for _, tc := range cases {
		nc, err := net.DialTimeout("tcp", c.addr(0), waitFor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(tc.connect); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(waitFor))
		connack := make([]byte, 4)
		if _, err := io.ReadFull(nc, connack); err != nil {
			t.Fatalf("%s: read CONNACK: %v", tc.name, err)
		}
		if !bytes.Equal(connack, []byte{0x20, 0x02, 0x00, tc.code}) {
			t.Errorf("%s: CONNACK % x, want 20 02 00 %02x", tc.name, connack, tc.code)
		}
		// The server closes the connection after a refusing CONNACK.
		if n, err := nc.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: connection still open after a refusing CONNACK (read %d bytes)", tc.name, n)
		}
		nc.Close()
		want = append(want, step{events.ClientConnectRejected, fmt.Sprintf("connack=%d", tc.code)})
		c.life.waitSteps("", want...)
	}
	if n, err := c.rdb.Exists(t.Context(), session.Keys{Prefix: c.prefix}.Session(session.Partition("refused-1", testPartitions), "refused-1")).Result(); err != nil || n != 0 {
		t.Errorf("a refused CONNECT left session state (exists=%d, err=%v)", n, err)
	}
}
