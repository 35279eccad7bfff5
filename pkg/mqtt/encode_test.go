package mqtt_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/mqtt/mqtttest"
)

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", 65536)
	tests := []struct {
		name string
		p    mqtt.Packet
		v    mqtt.Version
		want mqtt.ReasonCode
	}{
		{"unknown version", &mqtt.Pingreq{}, 6, mqtt.UnsupportedProtocolVersion},
		{"connect without version", &mqtt.Connect{}, 0, mqtt.UnsupportedProtocolVersion},
		{"auth in 3.1.1", &mqtt.Auth{}, mqtt.V311, mqtt.ProtocolError},
		{"publish qos 3", &mqtt.Publish{Topic: "t", QoS: 3, PacketID: 1}, mqtt.V311, mqtt.MalformedPacket},
		{"publish qos 1 without id", &mqtt.Publish{Topic: "t", QoS: 1}, mqtt.V311, mqtt.MalformedPacket},
		{"publish dup qos 0", &mqtt.Publish{Topic: "t", Dup: true}, mqtt.V311, mqtt.MalformedPacket},
		{"topic too long", &mqtt.Publish{Topic: long}, mqtt.V5, mqtt.MalformedPacket},
		{"user property too long", &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{
			UserProperties: []mqtt.UserProperty{{Key: long}}}}, mqtt.V5, mqtt.MalformedPacket},
		{"subscribe without filters", &mqtt.Subscribe{PacketID: 1}, mqtt.V5, mqtt.MalformedPacket},
		{"subscribe retain handling 3", &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a", RetainHandling: 3}}}, mqtt.V5, mqtt.MalformedPacket},
		{"unsubscribe without filters", &mqtt.Unsubscribe{PacketID: 1}, mqtt.V5, mqtt.MalformedPacket},
		{"suback 5.0 code in 3.1.1", &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{mqtt.NoMatchingSubscribers}}, mqtt.V311, mqtt.MalformedPacket},
		{"password without user 3.1.1", &mqtt.Connect{PasswordFlag: true}, mqtt.V311, mqtt.MalformedPacket},
		{"will qos 3", &mqtt.Connect{Will: &mqtt.Will{Topic: "w", QoS: 3}}, mqtt.V311, mqtt.MalformedPacket},
		{"remaining length over the limit", &mqtt.Publish{Topic: "t", Payload: make([]byte, mqtt.MaxRemainingLength)}, mqtt.V311, mqtt.PacketTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte{1, 2, 3}
			out, err := mqtt.AppendPacket(dst, tt.p, tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !bytes.Equal(out, dst) {
				t.Fatalf("dst changed on error: % x", out)
			}
		})
	}
}

// TestVersionForms encodes one packet model in each version and checks the
// fields each version cannot carry are dropped, and the rest survive.
func TestVersionForms(t *testing.T) {
	props := mqtt.Properties{ReasonString: mqtt.Ptr("why")}
	tests := []struct {
		name   string
		p      mqtt.Packet
		v      mqtt.Version
		want   mqtt.Packet
		rawLen int
	}{
		{"puback reason dropped in 3.1.1", &mqtt.Puback{PacketID: 1, ReasonCode: mqtt.QuotaExceeded, Properties: props}, mqtt.V311,
			&mqtt.Puback{PacketID: 1}, 4},
		{"suback failures become 0x80", &mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{mqtt.NotAuthorized, mqtt.GrantedQoS2}}, mqtt.V311,
			&mqtt.Suback{PacketID: 1, ReasonCodes: []mqtt.ReasonCode{mqtt.UnspecifiedError, mqtt.GrantedQoS2}}, 6},
		{"connack code mapped", &mqtt.Connack{ReasonCode: mqtt.Banned, Properties: props}, mqtt.V311,
			&mqtt.Connack{ReasonCode: mqtt.NotAuthorized}, 4},
		{"connack 3.1 has no session present", &mqtt.Connack{SessionPresent: true}, mqtt.V31,
			&mqtt.Connack{}, 4},
		{"subscribe options dropped", &mqtt.Subscribe{PacketID: 2, Subscriptions: []mqtt.Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainHandling: 2}}}, mqtt.V311,
			&mqtt.Subscribe{PacketID: 2, Subscriptions: []mqtt.Subscription{{Filter: "a", QoS: 1}}}, 8},
		{"unsuback codes dropped", &mqtt.Unsuback{PacketID: 3, ReasonCodes: []mqtt.ReasonCode{mqtt.Success}}, mqtt.V311,
			&mqtt.Unsuback{PacketID: 3}, 4},
		{"disconnect reason dropped", &mqtt.Disconnect{ReasonCode: mqtt.ServerShuttingDown}, mqtt.V311,
			&mqtt.Disconnect{}, 2},
		{"publish properties dropped", &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{ContentType: mqtt.Ptr("x")}}, mqtt.V311,
			&mqtt.Publish{Topic: "t"}, 5},
		{"connect 3.1 name", &mqtt.Connect{ClientID: "c", Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr[uint32](5)}}, mqtt.V31,
			&mqtt.Connect{ProtocolName: "MQIsdp", Version: mqtt.V31, ClientID: "c"}, 17},
		{"disconnect server shutting down", &mqtt.Disconnect{ReasonCode: mqtt.ServerShuttingDown}, mqtt.V5,
			&mqtt.Disconnect{ReasonCode: mqtt.ServerShuttingDown}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := mqtt.AppendPacket(nil, tt.p, tt.v)
			if err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			if len(raw) != tt.rawLen || mqtt.PacketSize(tt.p, tt.v) != tt.rawLen {
				t.Fatalf("length %d, PacketSize %d, want %d (% x)", len(raw), mqtt.PacketSize(tt.p, tt.v), tt.rawLen, raw)
			}
			rv := tt.v
			if tt.p.Type() == mqtt.CONNECT {
				rv = 0
			}
			got, err := mqtt.NewReader(bytes.NewReader(raw), 0).ReadPacket(rv)
			if err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("\n got %s\nwant %s", show(got), show(tt.want))
			}
		})
	}
}

// TestRoundTrip encodes and decodes every golden packet in every version
// that has its packet type: whatever survives the version's wire form must
// decode to what the encoder wrote, and PacketSize must match.
func TestRoundTrip(t *testing.T) {
	for _, c := range mqtttest.Packets() {
		for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
			if c.Packet.Type() == mqtt.AUTH && v != mqtt.V5 {
				continue
			}
			t.Run(c.Version.String()+"/"+c.Name+"/as "+v.String(), func(t *testing.T) {
				p := c.Packet
				if conn, ok := p.(*mqtt.Connect); ok {
					cc := *conn
					cc.ProtocolName, cc.Version = "", v
					p = &cc
				}
				raw, err := mqtt.AppendPacket(nil, p, v)
				if err != nil {
					t.Skipf("not representable in %s: %v", v, err)
				}
				if n := mqtt.PacketSize(p, v); n != len(raw) {
					t.Fatalf("PacketSize %d, encoded %d", n, len(raw))
				}
				rv := v
				if p.Type() == mqtt.CONNECT {
					rv = 0
				}
				got, err := mqtt.NewReader(bytes.NewReader(raw), 0).ReadPacket(rv)
				if err != nil {
					t.Fatalf("ReadPacket(% x): %v", raw, err)
				}
				again, err := mqtt.AppendPacket(nil, got, v)
				if err != nil {
					t.Fatalf("re-encode: %v", err)
				}
				if !bytes.Equal(again, raw) {
					t.Fatalf("re-encoded\n got % x\nwant % x", again, raw)
				}
				if v == mqtt.V5 && !reflect.DeepEqual(got, p) {
					if conn, ok := p.(*mqtt.Connect); ok && conn.ProtocolName == "" {
						return // the decoder fills in the protocol name
					}
					t.Fatalf("\n got %s\nwant %s", show(got), show(p))
				}
			})
		}
	}
}

func TestWritePacket(t *testing.T) {
	var buf bytes.Buffer
	if err := mqtt.WritePacket(&buf, &mqtt.Pingresp{}, mqtt.V5); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), []byte{0xD0, 0x00}) {
		t.Fatalf("wrote % x", buf.Bytes())
	}
	if err := mqtt.WritePacket(&buf, &mqtt.Auth{}, mqtt.V311); !errors.Is(err, mqtt.ProtocolError) {
		t.Fatalf("AUTH in 3.1.1: %v", err)
	}
}
