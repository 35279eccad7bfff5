package mqtt_test

import (
	"bytes"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// loopReader replays a stream forever without allocating, so decode
// benchmarks measure the codec rather than the source.
type loopReader struct {
	b []byte
	i int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.i:])
	l.i = (l.i + n) % len(l.b)
	return n, nil
}

func benchPackets() []struct {
	name string
	p    mqtt.Packet
	v    mqtt.Version
} {
	return []struct {
		name string
		p    mqtt.Packet
		v    mqtt.Version
	}{
		{"publish-3.1.1-64B", &mqtt.Publish{QoS: 1, PacketID: 7, Topic: "sensors/building-1/floor-3/temp", Payload: bytes.Repeat([]byte("x"), 64)}, mqtt.V311},
		{"publish-5.0-props-1KiB", &mqtt.Publish{QoS: 1, PacketID: 7, Topic: "sensors/building-1/floor-3/temp", Payload: bytes.Repeat([]byte("x"), 1024),
			Properties: mqtt.Properties{ContentType: mqtt.Ptr("application/json"), MessageExpiry: mqtt.Ptr[uint32](60),
				UserProperties: []mqtt.UserProperty{{Key: "traceparent", Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}}}, mqtt.V5},
		{"connect-5.0", &mqtt.Connect{Version: mqtt.V5, CleanStart: true, KeepAlive: 30, ClientID: "device-0001",
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("secret"),
			Will:       &mqtt.Will{Topic: "status/device-0001", Payload: []byte("offline"), QoS: 1, Retain: true},
			Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr[uint32](7200), ReceiveMaximum: mqtt.Ptr[uint16](100)}}, mqtt.V5},
		{"subscribe-5.0-3", &mqtt.Subscribe{PacketID: 9, Subscriptions: []mqtt.Subscription{
			{Filter: "sensors/+/floor-3/#", QoS: 1}, {Filter: "$share/g/jobs/#", QoS: 2}, {Filter: "cmd/device-0001", NoLocal: true}}}, mqtt.V5},
		// The rest of the packet types, each as the broker sees it most.
		{"publish-3.1.1-qos0-64B", &mqtt.Publish{Topic: "sensors/building-1/floor-3/temp", Payload: bytes.Repeat([]byte("x"), 64)}, mqtt.V311},
		{"connack-3.1.1", &mqtt.Connack{SessionPresent: true}, mqtt.V311},
		{"connack-5.0-props", &mqtt.Connack{Properties: mqtt.Properties{ReceiveMaximum: mqtt.Ptr[uint16](1024),
			TopicAliasMaximum: mqtt.Ptr[uint16](64), MaximumPacketSize: mqtt.Ptr[uint32](1 << 20),
			RetainAvailable: mqtt.Ptr[byte](1), SharedSubAvailable: mqtt.Ptr[byte](1)}}, mqtt.V5},
		{"puback-3.1.1", &mqtt.Puback{PacketID: 7}, mqtt.V311},
		{"puback-5.0-reason", &mqtt.Puback{PacketID: 7, ReasonCode: mqtt.NotAuthorized}, mqtt.V5},
		{"pubrec-5.0", &mqtt.Pubrec{PacketID: 7}, mqtt.V5},
		{"pubrel-5.0", &mqtt.Pubrel{PacketID: 7}, mqtt.V5},
		{"pubcomp-5.0", &mqtt.Pubcomp{PacketID: 7}, mqtt.V5},
		{"suback-5.0-3", &mqtt.Suback{PacketID: 9, ReasonCodes: []mqtt.ReasonCode{1, 2, mqtt.NotAuthorized}}, mqtt.V5},
		{"unsubscribe-3.1.1-2", &mqtt.Unsubscribe{PacketID: 10, Filters: []string{"sensors/+/floor-3/#", "cmd/device-0001"}}, mqtt.V311},
		{"unsuback-5.0-2", &mqtt.Unsuback{PacketID: 10, ReasonCodes: []mqtt.ReasonCode{0, mqtt.NoSubscriptionExisted}}, mqtt.V5},
		{"pingreq", &mqtt.Pingreq{}, mqtt.V311},
		{"pingresp", &mqtt.Pingresp{}, mqtt.V311},
		{"disconnect-5.0-expiry", &mqtt.Disconnect{Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr[uint32](0)}}, mqtt.V5},
	}
}

// Codec cost per packet type, with allocations:
//
//	go test -run '^$' -bench 'Encode|Decode' -benchmem ./pkg/mqtt
func BenchmarkEncode(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(mqtt.PacketSize(bp.p, bp.v)))
			for b.Loop() {
				var err error
				buf, err = mqtt.AppendPacket(buf[:0], bp.p, bp.v)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			raw, err := mqtt.AppendPacket(nil, bp.p, bp.v)
			if err != nil {
				b.Fatal(err)
			}
			// CONNECT is only read as the first packet, so each iteration
			// reads one from a fresh position with version 0.
			v := bp.v
			if bp.p.Type() == mqtt.CONNECT {
				v = 0
			}
			r := mqtt.NewReader(&loopReader{b: raw}, 0)
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := r.ReadPacket(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
