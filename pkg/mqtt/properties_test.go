package mqtt_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// allProperties sets every property once (and the repeatable ones twice),
// which no single packet may carry but a bare block may.
func allProperties() *mqtt.Properties {
	return &mqtt.Properties{
		PayloadFormat: mqtt.Ptr[byte](1), MessageExpiry: mqtt.Ptr[uint32](10), ContentType: mqtt.Ptr("text/plain"),
		ResponseTopic: mqtt.Ptr("r/t"), CorrelationData: []byte{}, SubscriptionIDs: []uint32{1, 268435455},
		SessionExpiry: mqtt.Ptr[uint32](0xFFFFFFFF), AssignedClientID: mqtt.Ptr(""), ServerKeepAlive: mqtt.Ptr[uint16](0),
		AuthMethod: mqtt.Ptr("m"), AuthData: []byte{0}, RequestProblemInfo: mqtt.Ptr[byte](0), WillDelay: mqtt.Ptr[uint32](7),
		RequestResponseInfo: mqtt.Ptr[byte](1), ResponseInfo: mqtt.Ptr("ri"), ServerReference: mqtt.Ptr("sr"),
		ReasonString: mqtt.Ptr("é"), ReceiveMaximum: mqtt.Ptr[uint16](65535), TopicAliasMaximum: mqtt.Ptr[uint16](0),
		TopicAlias: mqtt.Ptr[uint16](3), MaximumQoS: mqtt.Ptr[byte](0), RetainAvailable: mqtt.Ptr[byte](1),
		UserProperties:    []mqtt.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}, {Key: "", Value: ""}},
		MaximumPacketSize: mqtt.Ptr[uint32](1), WildcardSubAvailable: mqtt.Ptr[byte](1), SubIDAvailable: mqtt.Ptr[byte](0),
		SharedSubAvailable: mqtt.Ptr[byte](1),
	}
}

func TestPropertiesRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    *mqtt.Properties
	}{
		{"empty", &mqtt.Properties{}},
		{"publish header form", &mqtt.Properties{PayloadFormat: mqtt.Ptr[byte](0), ContentType: mqtt.Ptr("application/json"),
			UserProperties: []mqtt.UserProperty{{Key: "trace", Value: "x"}}}},
		{"present but empty values", &mqtt.Properties{CorrelationData: []byte{}, ContentType: mqtt.Ptr("")}},
		{"all", allProperties()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mqtt.AppendProperties([]byte("prefix"), tt.p)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("AppendProperties overwrote dst")
			}
			got, err := mqtt.DecodeProperties(b[len("prefix"):])
			if err != nil {
				t.Fatalf("DecodeProperties: %v", err)
			}
			if !reflect.DeepEqual(got, tt.p) {
				t.Fatalf("\n got %s\nwant %s", show(got), show(tt.p))
			}
		})
	}
}

func TestDecodePropertiesErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want mqtt.ReasonCode
	}{
		{"unknown identifier", []byte{0x04, 0x00}, mqtt.MalformedPacket},
		{"identifier over 63", []byte{0x80, 0x01}, mqtt.MalformedPacket},
		{"truncated uint32", []byte{0x02, 0x00, 0x00}, mqtt.MalformedPacket},
		{"truncated string", []byte{0x03, 0x00, 0x05, 'a'}, mqtt.MalformedPacket},
		{"string null", []byte{0x03, 0x00, 0x01, 0x00}, mqtt.MalformedPacket},
		{"duplicate", []byte{0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2}, mqtt.ProtocolError},
		{"flag value 2", []byte{0x24, 0x02}, mqtt.ProtocolError},
		{"receive maximum 0", []byte{0x21, 0x00, 0x00}, mqtt.ProtocolError},
		{"maximum packet size 0", []byte{0x27, 0, 0, 0, 0}, mqtt.ProtocolError},
		{"subscription identifier 0", []byte{0x0B, 0x00}, mqtt.ProtocolError},
		{"subscription identifier 5 bytes", []byte{0x0B, 0x80, 0x80, 0x80, 0x80, 0x01}, mqtt.MalformedPacket},
		{"topic alias 0", []byte{0x23, 0x00, 0x00}, mqtt.TopicAliasInvalid},
		{"user property without value", []byte{0x26, 0x00, 0x01, 'k'}, mqtt.MalformedPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mqtt.DecodeProperties(tt.b)
			if err == nil {
				t.Fatalf("decoded %s, want %v", show(p), tt.want)
			}
			if rc, _ := mqtt.ReasonCodeOf(err); rc != tt.want {
				t.Fatalf("error %q, want %v", err, tt.want)
			}
		})
	}
}

// TestPropertyPlacement checks the encoder refuses a property in a packet
// that may not carry it, instead of writing a packet peers must reject.
func TestPropertyPlacement(t *testing.T) {
	tests := []struct {
		name string
		p    mqtt.Packet
		ok   bool
	}{
		{"session expiry in publish", &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr[uint32](1)}}, false},
		{"topic alias in connect", &mqtt.Connect{Properties: mqtt.Properties{TopicAlias: mqtt.Ptr[uint16](1)}}, false},
		{"will delay in connect", &mqtt.Connect{Properties: mqtt.Properties{WillDelay: mqtt.Ptr[uint32](1)}}, false},
		{"will delay in will", &mqtt.Connect{Will: &mqtt.Will{Topic: "w", Properties: mqtt.Properties{WillDelay: mqtt.Ptr[uint32](1)}}}, true},
		{"reason string in puback", &mqtt.Puback{PacketID: 1, Properties: mqtt.Properties{ReasonString: mqtt.Ptr("x")}}, true},
		{"reason string in publish", &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{ReasonString: mqtt.Ptr("x")}}, false},
		{"two subscription ids in subscribe", &mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{{Filter: "a"}},
			Properties: mqtt.Properties{SubscriptionIDs: []uint32{1, 2}}}, false},
		{"two subscription ids in publish", &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{SubscriptionIDs: []uint32{1, 2}}}, true},
		{"subscription id too large", &mqtt.Publish{Topic: "t", Properties: mqtt.Properties{SubscriptionIDs: []uint32{268435456}}}, false},
		{"user property in auth", &mqtt.Auth{Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{{Key: "k"}}}}, true},
		{"server reference in disconnect", &mqtt.Disconnect{ReasonCode: mqtt.ServerMoved, Properties: mqtt.Properties{ServerReference: mqtt.Ptr("s")}}, true},
		{"session expiry in auth", &mqtt.Auth{Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr[uint32](1)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mqtt.AppendPacket(nil, tt.p, mqtt.V5)
			if tt.ok && err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			if !tt.ok && !errors.Is(err, mqtt.ProtocolError) {
				t.Fatalf("AppendPacket error %v, want protocol error", err)
			}
			// Before MQTT 5 properties are not written, so nothing to refuse.
			if _, err := mqtt.AppendPacket(nil, tt.p, mqtt.V311); err != nil && tt.p.Type() != mqtt.AUTH {
				t.Fatalf("AppendPacket 3.1.1: %v", err)
			}
		})
	}
}
