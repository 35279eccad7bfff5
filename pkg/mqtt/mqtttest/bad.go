package mqtttest

import "github.com/tidemarkmq/tidemark/pkg/mqtt"

// BadPackets returns packets a decoder must refuse, each with the reason
// code the refusal must carry.
func BadPackets() []Bad {
	const (
		v4 = mqtt.V311
		v5 = mqtt.V5
	)
	return []Bad{
		// Fixed header.
		{Name: "remaining length 5 bytes", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, // PUBLISH, remaining length with a fifth byte
		}},
		{Name: "remaining length not minimal", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xC0, 0x80, 0x00, // PINGREQ, remaining length 0 in two bytes [MQTT-1.5.5-1]
		}},
		{Name: "reserved type 0", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x00, 0x00, // type 0, remaining length 0
		}},
		{Name: "auth in 3.1.1", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xF0, 0x00, // type 15 is reserved before 5.0
		}},
		{Name: "pingreq flags", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xC1, 0x00, // PINGREQ with flag bit 0 [MQTT-2.1.3-1]
		}},
		{Name: "pubrel flags", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x60, 0x02, // PUBREL with flags 0000 instead of 0010 [MQTT-3.6.1-1]
			0x00, 0x01, // packet id 1
		}},
		{Name: "subscribe flags", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x80, 0x06, // SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]
			0x00, 0x01, // packet id 1
			0x00, 0x01, 'a', // filter
			0x00, // qos 0
		}},
		{Name: "unsubscribe flags", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xA0, 0x05, // UNSUBSCRIBE with flags 0000 [MQTT-3.10.1-1]
			0x00, 0x01, // packet id 1
			0x00, 0x01, 'a', // filter
		}},
		{Name: "too large", Version: v4, MaxSize: 10, Want: mqtt.PacketTooLarge, Raw: []byte{
			0x30, 20, // PUBLISH, remaining length 20 > limit 10; body never sent
		}},
		{Name: "too large for default limit", Version: v4, Want: mqtt.PacketTooLarge, Raw: []byte{
			0x30, 0xFF, 0xFF, 0xFF, 0x7F, // PUBLISH, remaining length 268435455
		}},

		// PUBLISH.
		{Name: "publish qos 3", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x36, 0x03, // PUBLISH qos 3 [MQTT-3.3.1-4]
			0x00, 0x01, 't', // topic
		}},
		{Name: "publish dup qos 0", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x38, 0x03, // PUBLISH dup, qos 0 [MQTT-3.3.1-2]
			0x00, 0x01, 't', // topic
		}},
		{Name: "publish packet id 0", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x32, 0x05, // PUBLISH qos 1
			0x00, 0x01, 't', // topic
			0x00, 0x00, // packet id 0 [MQTT-2.2.1-3]
		}},
		{Name: "publish topic ill-formed utf-8", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x04, // PUBLISH
			0x00, 0x02, 0xC3, 0x28, // topic: invalid two-byte sequence [MQTT-1.5.4-1]
		}},
		{Name: "publish topic surrogate", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x05, // PUBLISH
			0x00, 0x03, 0xED, 0xA0, 0x80, // topic: U+D800 [MQTT-1.5.4-1]
		}},
		{Name: "publish topic null", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x04, // PUBLISH
			0x00, 0x02, 'a', 0x00, // topic: U+0000 [MQTT-1.5.4-2]
		}},
		{Name: "publish topic null after non-ascii", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x05, // PUBLISH
			0x00, 0x03, 0xC3, 0xA9, 0x00, // topic: é then U+0000 [MQTT-1.5.4-2]
		}},
		{Name: "publish topic wildcard", Version: v4, Want: mqtt.TopicNameInvalid, Raw: []byte{
			0x30, 0x05, // PUBLISH
			0x00, 0x03, 'a', '/', '#', // topic with wildcard [MQTT-3.3.2-2]
		}},
		{Name: "publish empty topic 3.1.1", Version: v4, Want: mqtt.TopicNameInvalid, Raw: []byte{
			0x30, 0x02, // PUBLISH
			0x00, 0x00, // empty topic [MQTT-4.7.3-1]
		}},
		{Name: "publish topic truncated", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x02, // PUBLISH, remaining length 2
			0x00, 0x05, // topic length 5 beyond the packet
		}},
		{Name: "publish empty topic without alias", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x30, 0x03, // PUBLISH
			0x00, 0x00, // empty topic
			0x00, // property length 0: no topic alias
		}},
		{Name: "publish property length beyond packet", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x05, // PUBLISH
			0x00, 0x01, 't', // topic
			0x05, 0x01, // property length 5, one byte left
		}},
		{Name: "publish property of connect", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x09, // PUBLISH
			0x00, 0x01, 't', // topic
			0x05,                         // property length
			0x11, 0x00, 0x00, 0x00, 0x00, // session expiry: not a PUBLISH property
		}},
		{Name: "publish unknown property", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x06, // PUBLISH
			0x00, 0x01, 't', // topic
			0x02,       // property length
			0x05, 0x00, // identifier 0x05 does not exist
		}},
		{Name: "publish duplicate property", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x30, 0x08, // PUBLISH
			0x00, 0x01, 't', // topic
			0x04,       // property length
			0x01, 0x00, // payload format 0
			0x01, 0x01, // payload format again
		}},
		{Name: "publish payload format 2", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x30, 0x06, // PUBLISH
			0x00, 0x01, 't', // topic
			0x02,       // property length
			0x01, 0x02, // payload format 2
		}},
		{Name: "publish topic alias 0", Version: v5, Want: mqtt.TopicAliasInvalid, Raw: []byte{
			0x30, 0x07, // PUBLISH
			0x00, 0x01, 't', // topic
			0x03,             // property length
			0x23, 0x00, 0x00, // topic alias 0 [MQTT-3.3.2-8]
		}},
		{Name: "publish subscription identifier 0", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x30, 0x06, // PUBLISH
			0x00, 0x01, 't', // topic
			0x02,       // property length
			0x0B, 0x00, // subscription identifier 0
		}},
		{Name: "publish user property truncated", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x09, // PUBLISH
			0x00, 0x01, 't', // topic
			0x05,                        // property length
			0x26, 0x00, 0x01, 'k', 0x00, // user property: value length cut
		}},
		{Name: "publish content type bad utf-8", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x30, 0x08, // PUBLISH
			0x00, 0x01, 't', // topic
			0x04,                   // property length
			0x03, 0x00, 0x01, 0xFF, // content type: 0xFF is never UTF-8
		}},

		// SUBSCRIBE, UNSUBSCRIBE.
		{Name: "subscribe no filters", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x02, // SUBSCRIBE
			0x00, 0x01, // packet id 1, then nothing [MQTT-3.8.3-3]
		}},
		{Name: "subscribe no filters 5.0", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x03, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00, // property length 0, then nothing [MQTT-3.8.3-3]
		}},
		{Name: "subscribe packet id 0", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x06, // SUBSCRIBE
			0x00, 0x00, // packet id 0 [MQTT-2.2.1-3]
			0x00, 0x01, 'a', // filter
			0x00, // qos 0
		}},
		{Name: "subscribe 3.1.1 option bits", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x06, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00, 0x01, 'a', // filter
			0x04, // no local is reserved in 3.1.1 [MQTT-3-8.3-4]
		}},
		{Name: "subscribe 3.1.1 qos 3", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x06, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00, 0x01, 'a', // filter
			0x03, // qos 3 [MQTT-3-8.3-4]
		}},
		{Name: "subscribe filter missing options", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x05, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00, 0x01, 'a', // filter, options byte missing
		}},
		{Name: "subscribe reserved option bits", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x82, 0x07, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // filter
			0x40, // reserved bit 6 [MQTT-3.8.3-5]
		}},
		{Name: "subscribe qos 3", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x82, 0x07, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // filter
			0x03, // maximum qos 3
		}},
		{Name: "subscribe retain handling 3", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x82, 0x07, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x00,            // property length 0
			0x00, 0x01, 'a', // filter
			0x30, // retain handling 3
		}},
		{Name: "subscribe two subscription identifiers", Version: v5, Want: mqtt.ProtocolError, Raw: []byte{
			0x82, 0x0B, // SUBSCRIBE
			0x00, 0x01, // packet id 1
			0x04,       // property length
			0x0B, 0x01, // subscription identifier 1
			0x0B, 0x02, // subscription identifier 2: only one allowed here
			0x00, 0x01, 'a', // filter
			0x00, // qos 0
		}},
		{Name: "unsubscribe no filters", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xA2, 0x02, // UNSUBSCRIBE
			0x00, 0x01, // packet id 1, then nothing [MQTT-3.10.3-2]
		}},
		{Name: "unsubscribe packet id 0", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xA2, 0x05, // UNSUBSCRIBE
			0x00, 0x00, // packet id 0 [MQTT-2.2.1-3]
			0x00, 0x01, 'a', // filter
		}},

		// CONNECT.
		{Name: "first packet not connect", Version: 0, Want: mqtt.ProtocolError, Raw: []byte{
			0xC0, 0x00, // PINGREQ before CONNECT [MQTT-3.1.0-1]
		}},
		{Name: "second connect", Version: v4, Want: mqtt.ProtocolError, Raw: []byte{
			0x10, 0x0C, // CONNECT on a connected stream [MQTT-3.1.0-2]
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00,
		}},
		{Name: "connect protocol name", Version: 0, Want: mqtt.UnsupportedProtocolVersion, Raw: []byte{
			0x10, 0x0C, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'X', // unknown protocol name [MQTT-3.1.2-1]
			0x04,       // level 4
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
		}},
		{Name: "connect level 6", Version: 0, Want: mqtt.UnsupportedProtocolVersion, Raw: []byte{
			0x10, 0x0C, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x06,       // level 6 [MQTT-3.1.2-2]
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
		}},
		{Name: "connect MQIsdp level 4", Version: 0, Want: mqtt.UnsupportedProtocolVersion, Raw: []byte{
			0x10, 0x0E, // CONNECT
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // 3.1 name
			0x04,       // with the 3.1.1 level
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
		}},
		{Name: "connect truncated name", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x03, // CONNECT
			0x00, 0x04, 'M', // protocol name cut short
		}},
		{Name: "connect reserved flag", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x0C, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // MQTT 3.1.1
			0x03,       // clean + reserved bit 0 [MQTT-3.1.2-3]
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
		}},
		{Name: "connect will qos 3", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x11, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // MQTT 3.1.1
			0x1E,       // will, will qos 3, clean [MQTT-3.1.2-12]
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
			0x00, 0x01, 'w', // will topic
			0x00, 0x00, // will payload
		}},
		{Name: "connect will retain without will", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x0C, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // MQTT 3.1.1
			0x22,       // will retain without will flag [MQTT-3.1.2-13]
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
		}},
		{Name: "connect will qos without will", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x0C, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, // MQTT 5
			0x0A,       // will qos 1 without will flag [MQTT-3.1.2-11]
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
		}},
		{Name: "connect password without user name", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x0F, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // MQTT 3.1.1
			0x42,       // password without user name [MQTT-3.1.2-22]
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
			0x00, 0x01, 'p', // password
		}},
		{Name: "connect client id null", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x0D, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // MQTT 3.1.1
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x00, 0x01, 0x00, // client id U+0000 [MQTT-1.5.4-2]
		}},
		{Name: "connect trailing bytes", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x0D, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // MQTT 3.1.1
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x00, 0x00, // client id
			0xFF, // one byte too many
		}},
		{Name: "connect auth data without method", Version: 0, Want: mqtt.ProtocolError, Raw: []byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, // MQTT 5
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x03,             // property length
			0x16, 0x00, 0x00, // authentication data, no method
			0x00, 0x00, // client id
		}},
		{Name: "connect receive maximum 0", Version: 0, Want: mqtt.ProtocolError, Raw: []byte{
			0x10, 0x10, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, // MQTT 5
			0x02,       // clean
			0x00, 0x3C, // keep alive
			0x03,             // property length
			0x21, 0x00, 0x00, // receive maximum 0
			0x00, 0x00, // client id
		}},
		{Name: "connect will property not allowed", Version: 0, Want: mqtt.MalformedPacket, Raw: []byte{
			0x10, 0x16, // CONNECT
			0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, // MQTT 5
			0x06,       // will, clean
			0x00, 0x3C, // keep alive
			0x00,       // property length 0
			0x00, 0x00, // client id
			0x03,             // will property length
			0x23, 0x00, 0x01, // topic alias: not a will property
			0x00, 0x01, 'w', // will topic
			0x00, 0x00, // will payload
		}},

		// Acknowledgements, CONNACK, DISCONNECT.
		{Name: "connack return code 6", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x20, 0x02, // CONNACK
			0x00, // no session
			0x06, // return code 6 does not exist
		}},
		{Name: "connack reserved flags", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x20, 0x03, // CONNACK
			0x02, // reserved acknowledge flag bit 1
			0x00, // success
			0x00, // property length 0
		}},
		{Name: "puback reason not allowed", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0x40, 0x03, // PUBACK
			0x00, 0x01, // packet id 1
			0x8E, // session taken over is not a PUBACK reason
		}},
		{Name: "suback 3.1.1 code 3", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0x90, 0x03, // SUBACK
			0x00, 0x01, // packet id 1
			0x03, // only 0, 1, 2 and 0x80 exist [MQTT-3.9.3-2]
		}},
		{Name: "unsuback no codes", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0xB0, 0x03, // UNSUBACK
			0x00, 0x01, // packet id 1
			0x00, // property length 0, then no reason codes
		}},
		{Name: "pingreq with body", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xC0, 0x01, // PINGREQ with remaining length 1
			0x00,
		}},
		{Name: "disconnect 3.1.1 with body", Version: v4, Want: mqtt.MalformedPacket, Raw: []byte{
			0xE0, 0x01, // DISCONNECT with remaining length 1
			0x00,
		}},
		{Name: "disconnect property of connect only", Version: v5, Want: mqtt.MalformedPacket, Raw: []byte{
			0xE0, 0x04, // DISCONNECT
			0x00,       // normal
			0x02,       // property length
			0x17, 0x01, // request problem information: CONNECT only
		}},
	}
}
