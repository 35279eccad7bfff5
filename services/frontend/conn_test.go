package frontend

import (
	"context"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// authFunc refuses CONNECTs with an error of its choosing.
type authFunc struct {
	AllowAll
	connect func(ConnectInfo) error
}

func (a authFunc) Connect(_ context.Context, c ConnectInfo) (string, error) {
	return c.Username, a.connect(c)
}

func TestConnectValidation(t *testing.T) {
	refuseUser := authFunc{connect: func(c ConnectInfo) error {
		switch c.Username {
		case "bad":
			return ErrBadCredentials
		case "banned":
			return ErrNotAuthorized
		}
		return nil
	}}
	tests := []struct {
		name     string
		v        mqtt.Version
		cp       mqtt.Connect
		want     mqtt.ReasonCode
		assigned bool
	}{
		{"3.1.1 accepted", mqtt.V311, mqtt.Connect{ClientID: "a", CleanStart: true}, mqtt.Success, false},
		{"5 accepted", mqtt.V5, mqtt.Connect{ClientID: "a", CleanStart: true}, mqtt.Success, false},
		{"3.1 accepted", mqtt.V31, mqtt.Connect{ClientID: "a", CleanStart: true}, mqtt.Success, false},
		// [MQTT-3.1.3-8]: zero-length ClientID needs CleanSession=1 in 3.1.1.
		{"3.1.1 empty id persistent", mqtt.V311, mqtt.Connect{CleanStart: false}, mqtt.ClientIdentifierNotValid, false},
		{"3.1.1 empty id clean", mqtt.V311, mqtt.Connect{CleanStart: true}, mqtt.Success, false},
		{"3.1 empty id", mqtt.V31, mqtt.Connect{CleanStart: true}, mqtt.ClientIdentifierNotValid, false},
		{"3.1 id over 23 bytes", mqtt.V31, mqtt.Connect{ClientID: "abcdefghijklmnopqrstuvwxyz", CleanStart: true}, mqtt.ClientIdentifierNotValid, false},
		// MQTT 5 assigns an identifier and returns it [MQTT-3.2.2-16].
		{"5 empty id", mqtt.V5, mqtt.Connect{CleanStart: false}, mqtt.Success, true},
		{"3.1.1 bad credentials", mqtt.V311, mqtt.Connect{ClientID: "a", UsernameFlag: true, Username: "bad"}, mqtt.BadUsernameOrPassword, false},
		{"5 bad credentials", mqtt.V5, mqtt.Connect{ClientID: "a", UsernameFlag: true, Username: "bad"}, mqtt.BadUsernameOrPassword, false},
		{"3.1.1 not authorized", mqtt.V311, mqtt.Connect{ClientID: "a", UsernameFlag: true, Username: "banned"}, mqtt.NotAuthorized, false},
		{"5 not authorized", mqtt.V5, mqtt.Connect{ClientID: "a", UsernameFlag: true, Username: "banned"}, mqtt.NotAuthorized, false},
		{"5 auth method", mqtt.V5, mqtt.Connect{ClientID: "a", Properties: mqtt.Properties{AuthMethod: mqtt.Ptr("SCRAM")}}, mqtt.BadAuthenticationMethod, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, log := newUnitServer(t, func(c *Config) { c.Auth = refuseUser })
			c := dialPipe(t, s, tt.v)
			cp := tt.cp
			ack := c.connect(&cp)
			want := tt.want
			if tt.v != mqtt.V5 {
				// The 3.1.x return code travels; compare what it maps back to.
				want, _ = mqtt.ReturnCodeFor(tt.want).ReasonCode()
			}
			if ack.ReasonCode != want {
				t.Fatalf("CONNACK %v, want %v", ack.ReasonCode, want)
			}
			if got := ack.Properties.AssignedClientID != nil; got != tt.assigned {
				t.Fatalf("assigned client id present = %v, want %v", got, tt.assigned)
			}
			if tt.want != mqtt.Success {
				c.closed(5 * time.Second)
				op := log.waitOp(t, session.OpRejected)
				wantCode := byte(tt.want)
				if tt.v != mqtt.V5 {
					wantCode = byte(mqtt.ReturnCodeFor(tt.want))
				}
				if op.Connack != wantCode {
					t.Fatalf("rejected op code %#x, want %#x", op.Connack, wantCode)
				}
				return
			}
			op := log.waitOp(t, session.OpConnect)
			if op.Proto != byte(tt.v) {
				t.Fatalf("connect op proto %d, want %d", op.Proto, tt.v)
			}
		})
	}
}

func TestConnectUnsupportedProtocol(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
	}{
		{"level 6", []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 60, 0, 1, 'a'}},
		{"level 2", []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 2, 0x02, 0, 60, 0, 1, 'a'}},
		{"name MQTX", []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 60, 0, 1, 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newUnitServer(t, nil)
			c := dialPipe(t, s, mqtt.V311)
			c.sendRaw(tt.raw)
			ack, ok := c.next(5 * time.Second).(*mqtt.Connack)
			if !ok {
				t.Fatal("want CONNACK")
			}
			if ack.ReasonCode != mqtt.UnsupportedProtocolVersion {
				t.Fatalf("CONNACK %v, want return code 0x01", ack.ReasonCode)
			}
			c.closed(5 * time.Second)
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	s, _ := newUnitServer(t, func(c *Config) { c.ConnectTimeout = 100 * time.Millisecond })
	c := dialPipe(t, s, mqtt.V311)
	c.closed(5 * time.Second)
}

// TestDisconnectReasons checks the reason of the disconnect op and the
// DISCONNECT an MQTT 5 client gets, per way a connection ends.
func TestDisconnectReasons(t *testing.T) {
	tests := []struct {
		name       string
		v          mqtt.Version
		keepAlive  uint16
		maxPacket  int
		act        func(c *pipeClient)
		wantCode   mqtt.ReasonCode // DISCONNECT from the server; 0 = none
		wantReason events.DisconnectReason
	}{
		{"5 normal", mqtt.V5, 0, 0, func(c *pipeClient) { c.send(&mqtt.Disconnect{}) }, 0, events.DisconnectNormal},
		{"3.1.1 normal", mqtt.V311, 0, 0, func(c *pipeClient) { c.send(&mqtt.Disconnect{}) }, 0, events.DisconnectNormal},
		{"3.1.1 socket closed", mqtt.V311, 0, 0, func(c *pipeClient) { c.nc.Close() }, 0, events.DisconnectClosed},
		{"5 keep alive", mqtt.V5, 1, 0, func(*pipeClient) {}, mqtt.KeepAliveTimeout, events.DisconnectKeepAliveTimeout},
		{"3.1.1 keep alive", mqtt.V311, 1, 0, func(*pipeClient) {}, 0, events.DisconnectKeepAliveTimeout},
		{"5 malformed", mqtt.V5, 0, 0, func(c *pipeClient) { c.sendRaw([]byte{0xC1, 0x00}) }, mqtt.MalformedPacket, events.DisconnectProtocolError},
		{"3.1.1 malformed", mqtt.V311, 0, 0, func(c *pipeClient) { c.sendRaw([]byte{0xC1, 0x00}) }, 0, events.DisconnectProtocolError},
		{"5 second connect", mqtt.V5, 0, 0, func(c *pipeClient) {
			c.send(&mqtt.Connect{Version: mqtt.V5, ClientID: "x", CleanStart: true})
		}, mqtt.ProtocolError, events.DisconnectProtocolError},
		{"5 too large", mqtt.V5, 0, 64, func(c *pipeClient) {
			c.send(&mqtt.Publish{Topic: "t", Payload: make([]byte, 100)})
		}, mqtt.PacketTooLarge, events.DisconnectPacketTooLarge},
		{"5 invalid topic", mqtt.V5, 0, 0, func(c *pipeClient) {
			c.send(&mqtt.Publish{Topic: "a/+"})
		}, mqtt.TopicNameInvalid, events.DisconnectProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, log := newUnitServer(t, func(c *Config) { c.MaxPacketSize = tt.maxPacket })
			c := dialPipe(t, s, tt.v)
			if ack := c.connect(&mqtt.Connect{ClientID: "c1", CleanStart: true, KeepAlive: tt.keepAlive}); ack.ReasonCode != mqtt.Success {
				t.Fatalf("CONNACK %v", ack.ReasonCode)
			}
			tt.act(c)
			if tt.wantCode != 0 {
				d, ok := c.next(5 * time.Second).(*mqtt.Disconnect)
				if !ok {
					t.Fatal("want DISCONNECT")
				}
				if d.ReasonCode != tt.wantCode {
					t.Fatalf("DISCONNECT %v, want %v", d.ReasonCode, tt.wantCode)
				}
			}
			if tt.name != "3.1.1 socket closed" {
				c.closed(5 * time.Second)
			}
			op := log.waitOp(t, session.OpDisconnect)
			if events.DisconnectReason(op.Reason) != tt.wantReason {
				t.Fatalf("disconnect reason %q, want %q", op.Reason, tt.wantReason)
			}
			ops := log.ops(t)
			if last := ops[len(ops)-1]; last.Kind != session.OpDisconnect {
				t.Fatalf("last op %s, want disconnect", last.Kind)
			}
			if prev := ops[len(ops)-2]; prev.Kind != session.OpProgress {
				t.Fatalf("op before disconnect %s, want progress", prev.Kind)
			}
		})
	}
}

func TestPingreq(t *testing.T) {
	s, _ := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V311)
	c.connect(&mqtt.Connect{ClientID: "p", CleanStart: true})
	c.send(&mqtt.Pingreq{})
	if _, ok := c.next(5 * time.Second).(*mqtt.Pingresp); !ok {
		t.Fatal("want PINGRESP")
	}
}
