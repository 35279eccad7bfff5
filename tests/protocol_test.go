package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// rawConn is a hand-driven MQTT connection for sending what no library
// client would send.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *mqtt.Reader
	v  mqtt.Version
}

func dialRaw(t *testing.T, addr string, v mqtt.Version) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	// A generous read limit: the test reads what the server sends and must
	// not itself refuse it.
	return &rawConn{t: t, nc: nc, r: mqtt.NewReader(nc, mqtt.MaxRemainingLength), v: v}
}

func (c *rawConn) send(p mqtt.Packet) {
	c.t.Helper()
	b, err := mqtt.AppendPacket(nil, p, c.v)
	if err != nil {
		c.t.Fatalf("encode %T: %v", p, err)
	}
	c.write(b)
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet from the server, or the error that ended
// the stream.
func (c *rawConn) read() (mqtt.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	return c.r.ReadPacket(c.v)
}

// connect sends CONNECT and fails the test unless the CONNACK accepts it.
func (c *rawConn) connect(id string) {
	c.t.Helper()
	c.send(&mqtt.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	p, err := c.read()
	if err != nil {
		c.t.Fatalf("%s: read CONNACK: %v", id, err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok || ack.ReasonCode != mqtt.Success {
		c.t.Fatalf("%s: got %T %+v, want an accepting CONNACK", id, p, p)
	}
}

// expectDisconnect fails the test unless the next packet is a DISCONNECT
// with reason want and the server then closes the connection.
func (c *rawConn) expectDisconnect(want mqtt.ReasonCode) {
	c.t.Helper()
	p, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v, want DISCONNECT 0x%02x", err, byte(want))
	}
	d, ok := p.(*mqtt.Disconnect)
	if !ok {
		c.t.Fatalf("got %T %+v, want DISCONNECT 0x%02x", p, p, byte(want))
	}
	if d.ReasonCode != want {
		c.t.Fatalf("DISCONNECT reason 0x%02x, want 0x%02x", byte(d.ReasonCode), byte(want))
	}
	c.expectClosed()
}

// expectClosed fails the test unless the server closes the connection
// without sending any further packet.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	p, err := c.read()
	if err == nil {
		c.t.Fatalf("got %T %+v, want the connection closed", p, p)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", waitFor)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
		// A reset is a close too; anything else is reported for a look.
		c.t.Logf("connection ended with %v", err)
	}
}

// TestBadClientsCloseOnlyThemselves: each misbehaving raw connection is
// answered as the specification says (a DISCONNECT with the right MQTT 5
// reason code, or a plain close for 3.1.1) and ends only its own
// connection: a subscriber and a publisher on the same frontend keep
// completing QoS 1 round trips through the log after every one of them.
func TestBadClientsCloseOnlyThemselves(t *testing.T) {
	c := newCluster(t, options{frontends: 1})
	tp := "bad-clients/" + fmt.Sprint(time.Now().UnixNano())
	sub, _ := c.dial(0, "good-sub", true)
	sub.subscribe(tp, 1)
	pub, _ := c.dial(0, "good-pub", true)

	// roundTrip runs on the test's own goroutine: the client helpers fail
	// the top-level test.
	round := 0
	roundTrip := func(after string) {
		t.Helper()
		round++
		payload := fmt.Sprintf("round-%d", round)
		pub.publish(tp, 1, payload)
		got := sub.waitMessages(round)
		if last := got[len(got)-1]; last.Payload != payload || last.QoS != 1 {
			t.Fatalf("after %s: subscriber got %+v, want %q at QoS 1", after, last, payload)
		}
		select {
		case err := <-sub.lost:
			t.Fatalf("after %s: subscriber lost its connection: %v", after, err)
		case err := <-pub.lost:
			t.Fatalf("after %s: publisher lost its connection: %v", after, err)
		default:
		}
	}
	roundTrip("start")

	cases := []struct {
		name string
		v    mqtt.Version
		// run misbehaves on a fresh connection and checks the answer.
		run func(t *testing.T, rc *rawConn)
	}{
		{
			// MQTT 5.0 sections 1.5.5 and 2.1.4: the Remaining Length is
			// a Variable Byte Integer of at most four bytes; a fifth is a
			// Malformed Packet, answered with DISCONNECT 0x81 (4.13).
			name: "v5 malformed remaining length",
			v:    mqtt.V5,
			run: func(t *testing.T, rc *rawConn) {
				rc.connect("bad-malformed")
				rc.write([]byte{
					0x30,                         // PUBLISH, QoS 0, no DUP, no RETAIN
					0x80, 0x80, 0x80, 0x80, 0x01, // remaining length: five bytes, all but the last with the continuation bit
				})
				rc.expectDisconnect(mqtt.MalformedPacket)
			},
		},
		{
			// [MQTT-3.2.2-15] and section 3.2.2.3.6: a packet over the
			// server's Maximum Packet Size (1 MiB by default) is answered
			// with DISCONNECT 0x95; the size is judged from the fixed
			// header, before a body that never arrives.
			name: "v5 packet larger than the server maximum",
			v:    mqtt.V5,
			run: func(t *testing.T, rc *rawConn) {
				rc.connect("bad-too-large")
				rc.write([]byte{
					0x30,       // PUBLISH, QoS 0, no DUP, no RETAIN
					0x80,       // remaining length 2 MiB = 2097152 = 1×128³: 0 with continuation,
					0x80,       // 0 with continuation,
					0x80,       // 0 with continuation,
					0x01,       // 1 (no continuation)
					0x00, 0x01, // topic name length 1
					'a', // topic name "a"; the other 2 MiB of the body are never sent
				})
				rc.expectDisconnect(mqtt.PacketTooLarge)
			},
		},
		{
			// [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error.
			name: "v5 second CONNECT",
			v:    mqtt.V5,
			run: func(t *testing.T, rc *rawConn) {
				rc.connect("bad-second-connect")
				rc.send(&mqtt.Connect{ClientID: "bad-second-connect", CleanStart: true, KeepAlive: 30})
				rc.expectDisconnect(mqtt.ProtocolError)
			},
		},
		{
			// [MQTT-3.1.0-1]: the first packet must be CONNECT; 3.1.1 has
			// no DISCONNECT from the server, so the answer is a close.
			name: "v311 PUBLISH before CONNECT",
			v:    mqtt.V311,
			run: func(t *testing.T, rc *rawConn) {
				rc.send(&mqtt.Publish{Topic: tp, QoS: 1, PacketID: 1, Payload: []byte("sneaky")})
				rc.expectClosed()
			},
		},
		{
			// MQTT 3.1.1 section 4.8: a malformed packet closes the
			// Network Connection; packet type 0 is reserved (section
			// 2.2.1) and so forbidden.
			name: "v311 garbage after CONNECT",
			v:    mqtt.V311,
			run: func(t *testing.T, rc *rawConn) {
				rc.connect("bad-garbage")
				rc.write([]byte{
					0x00,             // packet type 0: reserved, forbidden
					0x03,             // remaining length 3
					0xde, 0xad, 0xbe, // garbage body
				})
				rc.expectClosed()
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, c.addr(0), tc.v)
			tc.run(t, rc)
		})
		roundTrip(tc.name)
	}
}
