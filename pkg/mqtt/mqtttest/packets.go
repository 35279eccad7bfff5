// Package mqtttest holds annotated MQTT packets shared by the codec's tests
// and by tests of connection code: every byte of every packet is commented,
// so a failing test points at the field that differs.
package mqtttest

import "github.com/tidemarkmq/tidemark/pkg/mqtt"

// Case is one valid packet in one protocol version.
type Case struct {
	Name    string
	Version mqtt.Version // wire form; CONNECT carries its own
	Raw     []byte       // the packet on the wire
	Packet  mqtt.Packet  // what Raw decodes to
	// DecodeOnly marks an accepted but non-canonical form: Packet encodes
	// to different (shorter) bytes.
	DecodeOnly bool
}

// Bad is a packet a decoder must refuse with the reason code Want.
type Bad struct {
	Name    string
	Version mqtt.Version // 0: read as the first packet of a connection
	Raw     []byte
	Want    mqtt.ReasonCode
	// MaxSize is the reader's packet size limit; 0 means the default.
	MaxSize int
}

func p[T any](v T) *T { return &v }

// Packets returns the golden table; each call builds fresh values, so
// callers may modify them.
func Packets() []Case {
	return []Case{
		// ---------------- MQTT 3.1.1 ----------------
		{Name: "connect minimal", Version: mqtt.V311, Raw: []byte{
			0x10, 14, // CONNECT, remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // level 4
			0x02,       // flags: clean session
			0x00, 0x3C, // keep alive 60
			0x00, 0x02, 'c', '1', // client id
		}, Packet: &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
		{Name: "connect will user password", Version: mqtt.V311, Raw: []byte{
			0x10, 28, // CONNECT, remaining length 28
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // level 4
			0xEC,       // flags: user, password, will retain, will qos 1, will
			0x00, 0x1E, // keep alive 30
			0x00, 0x02, 'i', 'd', // client id
			0x00, 0x01, 'w', // will topic
			0x00, 0x03, 'b', 'y', 'e', // will payload
			0x00, 0x01, 'u', // user name
			0x00, 0x01, 'p', // password
		}, Packet: &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V311, KeepAlive: 30, ClientID: "id",
			Will:         &mqtt.Will{Topic: "w", Payload: []byte("bye"), QoS: 1, Retain: true},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")}},
		{Name: "connect 3.1", Version: mqtt.V31, Raw: []byte{
			0x10, 17, // CONNECT, remaining length 17
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name
			0x03,       // level 3
			0x02,       // flags: clean session
			0x00, 0x0A, // keep alive 10
			0x00, 0x03, 'a', 'b', 'c', // client id
		}, Packet: &mqtt.Connect{ProtocolName: "MQIsdp", Version: mqtt.V31, CleanStart: true, KeepAlive: 10, ClientID: "abc"}},
		{Name: "connack session present", Version: mqtt.V311, Raw: []byte{
			0x20, 2, // CONNACK, remaining length 2
			0x01, // session present
			0x00, // accepted
		}, Packet: &mqtt.Connack{SessionPresent: true}},
		{Name: "connack not authorized", Version: mqtt.V311, Raw: []byte{
			0x20, 2, // CONNACK, remaining length 2
			0x00, // no session
			0x05, // refused: not authorized
		}, Packet: &mqtt.Connack{ReasonCode: mqtt.NotAuthorized}},
		{Name: "connack 3.1", Version: mqtt.V31, Raw: []byte{
			0x20, 2, // CONNACK, remaining length 2
			0x00, // reserved in 3.1
			0x02, // refused: identifier rejected
		}, Packet: &mqtt.Connack{ReasonCode: mqtt.ClientIdentifierNotValid}},
		{Name: "publish qos 0", Version: mqtt.V311, Raw: []byte{
			0x30, 7, // PUBLISH qos 0, remaining length 7
			0x00, 0x03, 'a', '/', 'b', // topic
			'h', 'i', // payload
		}, Packet: &mqtt.Publish{Topic: "a/b", Payload: []byte("hi")}},
		{Name: "publish qos 1 dup retain", Version: mqtt.V311, Raw: []byte{
			0x3B, 6, // PUBLISH dup, qos 1, retain; remaining length 6
			0x00, 0x01, 't', // topic
			0x00, 0x0A, // packet id 10
			'x', // payload
		}, Packet: &mqtt.Publish{Dup: true, QoS: 1, Retain: true, Topic: "t", PacketID: 10, Payload: []byte("x")}},
		{Name: "publish qos 2 empty payload", Version: mqtt.V311, Raw: []byte{
			0x34, 5, // PUBLISH qos 2, remaining length 5
			0x00, 0x01, 't', // topic
			0x12, 0x34, // packet id 0x1234
		}, Packet: &mqtt.Publish{QoS: 2, Topic: "t", PacketID: 0x1234}},
		{Name: "puback", Version: mqtt.V311, Raw: []byte{
			0x40, 2, // PUBACK, remaining length 2
			0x00, 0x07, // packet id 7
		}, Packet: &mqtt.Puback{PacketID: 7}},
		{Name: "pubrec", Version: mqtt.V311, Raw: []byte{
			0x50, 2, // PUBREC, remaining length 2
			0x00, 0x07, // packet id 7
		}, Packet: &mqtt.Pubrec{PacketID: 7}},
		{Name: "pubrel", Version: mqtt.V311, Raw: []byte{
			0x62, 2, // PUBREL (flags 0010), remaining length 2
			0x00, 0x07, // packet id 7
		}, Packet: &mqtt.Pubrel{PacketID: 7}},
		{Name: "pubcomp", Version: mqtt.V311, Raw: []byte{
			0x70, 2, // PUBCOMP, remaining length 2
			0x00, 0x07, // packet id 7
		}, Packet: &mqtt.Pubcomp{PacketID: 7}},
		{Name: "subscribe", Version: mqtt.V311, Raw: []byte{
			0x82, 12, // SUBSCRIBE (flags 0010), remaining length 12
			0x00, 0x0A, // packet id 10
			0x00, 0x03, 'a', '/', '#', // filter
			0x01,            // qos 1
			0x00, 0x01, 'b', // filter
			0x02, // qos 2
		}, Packet: &mqtt.Subscribe{PacketID: 10, Subscriptions: []mqtt.Subscription{{Filter: "a/#", QoS: 1}, {Filter: "b", QoS: 2}}}},
		{Name: "suback", Version: mqtt.V311, Raw: []byte{
			0x90, 5, // SUBACK, remaining length 5
			0x00, 0x0A, // packet id 10
			0x00, // granted qos 0
			0x01, // granted qos 1
			0x80, // failure
		}, Packet: &mqtt.Suback{PacketID: 10, ReasonCodes: []mqtt.ReasonCode{mqtt.GrantedQoS0, mqtt.GrantedQoS1, mqtt.UnspecifiedError}}},
		{Name: "unsubscribe", Version: mqtt.V311, Raw: []byte{
			0xA2, 10, // UNSUBSCRIBE (flags 0010), remaining length 10
			0x00, 0x0B, // packet id 11
			0x00, 0x03, 'a', '/', '#', // filter
			0x00, 0x01, 'b', // filter
		}, Packet: &mqtt.Unsubscribe{PacketID: 11, Filters: []string{"a/#", "b"}}},
		{Name: "unsuback", Version: mqtt.V311, Raw: []byte{
			0xB0, 2, // UNSUBACK, remaining length 2
			0x00, 0x0B, // packet id 11
		}, Packet: &mqtt.Unsuback{PacketID: 11}},
		{Name: "pingreq", Version: mqtt.V311, Raw: []byte{
			0xC0, 0, // PINGREQ, remaining length 0
		}, Packet: &mqtt.Pingreq{}},
		{Name: "pingresp", Version: mqtt.V311, Raw: []byte{
			0xD0, 0, // PINGRESP, remaining length 0
		}, Packet: &mqtt.Pingresp{}},
		{Name: "disconnect", Version: mqtt.V311, Raw: []byte{
			0xE0, 0, // DISCONNECT, remaining length 0
		}, Packet: &mqtt.Disconnect{}},

		// ---------------- MQTT 5.0 ----------------
		{Name: "connect minimal", Version: mqtt.V5, Raw: []byte{
			0x10, 13, // CONNECT, remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // level 5
			0x02,       // flags: clean start
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // empty client id
		}, Packet: &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, CleanStart: true}},
		{Name: "connect properties will user password", Version: mqtt.V5, Raw: []byte{
			0x10, 59, // CONNECT, remaining length 59
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // level 5
			0xC6,       // flags: user, password, will qos 0, will, clean start
			0x00, 0x3C, // keep alive 60
			15,                           // property length
			0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry 3600
			0x21, 0x00, 0x64, // receive maximum 100
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x03, 'c', 'i', 'd', // client id
			7,          // will property length
			0x01, 0x01, // payload format utf-8
			0x18, 0x00, 0x00, 0x00, 0x05, // will delay 5
			0x00, 0x03, 'l', 'w', 't', // will topic
			0x00, 0x02, 'o', 'k', // will payload
			0x00, 0x04, 'u', 's', 'e', 'r', // user name
			0x00, 0x03, 'p', 'w', 'd', // password
		}, Packet: &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, CleanStart: true, KeepAlive: 60, ClientID: "cid",
			Properties: mqtt.Properties{SessionExpiry: p[uint32](3600), ReceiveMaximum: p[uint16](100),
				UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}},
			Will: &mqtt.Will{Topic: "lwt", Payload: []byte("ok"),
				Properties: mqtt.Properties{PayloadFormat: p[byte](1), WillDelay: p[uint32](5)}},
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pwd")}},
		{Name: "connect enhanced auth", Version: mqtt.V5, Raw: []byte{
			0x10, 30, // CONNECT, remaining length 30
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // level 5
			0x00,       // flags: none
			0x00, 0x0A, // keep alive 10
			16,                                        // property length
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method
			0x16, 0x00, 0x01, 0x2A, // authentication data
			0x17, 0x00, // request problem information 0
			0x19, 0x01, // request response information 1
			0x00, 0x01, 'x', // client id
		}, Packet: &mqtt.Connect{ProtocolName: "MQTT", Version: mqtt.V5, KeepAlive: 10, ClientID: "x",
			Properties: mqtt.Properties{AuthMethod: p("SCRAM"), AuthData: []byte{0x2A},
				RequestProblemInfo: p[byte](0), RequestResponseInfo: p[byte](1)}}},
		{Name: "connack properties", Version: mqtt.V5, Raw: []byte{
			0x20, 22, // CONNACK, remaining length 22
			0x00,                  // no session
			0x00,                  // success
			19,                    // property length
			0x12, 0x00, 0x01, 'x', // assigned client id
			0x13, 0x00, 0x1E, // server keep alive 30
			0x22, 0x00, 0x0A, // topic alias maximum 10
			0x24, 0x01, // maximum qos 1
			0x25, 0x00, // retain available 0
			0x27, 0x00, 0x00, 0x10, 0x00, // maximum packet size 4096
		}, Packet: &mqtt.Connack{Properties: mqtt.Properties{AssignedClientID: p("x"), ServerKeepAlive: p[uint16](30),
			TopicAliasMaximum: p[uint16](10), MaximumQoS: p[byte](1), RetainAvailable: p[byte](0),
			MaximumPacketSize: p[uint32](4096)}}},
		{Name: "connack availability flags", Version: mqtt.V5, Raw: []byte{
			0x20, 13, // CONNACK, remaining length 13
			0x01,                  // session present
			0x00,                  // success
			10,                    // property length
			0x1A, 0x00, 0x01, 'r', // response information
			0x28, 0x00, // wildcard subscription available 0
			0x29, 0x00, // subscription identifiers available 0
			0x2A, 0x01, // shared subscription available 1
		}, Packet: &mqtt.Connack{SessionPresent: true, Properties: mqtt.Properties{ResponseInfo: p("r"),
			WildcardSubAvailable: p[byte](0), SubIDAvailable: p[byte](0), SharedSubAvailable: p[byte](1)}}},
		{Name: "connack refused", Version: mqtt.V5, Raw: []byte{
			0x20, 3, // CONNACK, remaining length 3
			0x00, // no session
			0x8C, // bad authentication method
			0x00, // property length 0
		}, Packet: &mqtt.Connack{ReasonCode: mqtt.BadAuthenticationMethod}},
		{Name: "connack use another server", Version: mqtt.V5, Raw: []byte{
			0x20, 10, // CONNACK, remaining length 10
			0x00,                                 // no session
			0x9C,                                 // use another server
			7,                                    // property length
			0x1C, 0x00, 0x04, 'h', ':', '8', '3', // server reference
		}, Packet: &mqtt.Connack{ReasonCode: mqtt.UseAnotherServer, Properties: mqtt.Properties{ServerReference: p("h:83")}}},
		{Name: "publish qos 1 all properties", Version: mqtt.V5, Raw: []byte{
			0x32, 41, // PUBLISH qos 1, remaining length 41
			0x00, 0x03, 'a', '/', 'b', // topic
			0x00, 0x05, // packet id 5
			31,         // property length
			0x01, 0x01, // payload format utf-8
			0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry 60
			0x03, 0x00, 0x01, 't', // content type
			0x08, 0x00, 0x01, 'r', // response topic
			0x09, 0x00, 0x01, 'c', // correlation data
			0x0B, 0x07, // subscription identifier 7
			0x23, 0x00, 0x02, // topic alias 2
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
			'h', 'i', // payload
		}, Packet: &mqtt.Publish{QoS: 1, Topic: "a/b", PacketID: 5, Payload: []byte("hi"),
			Properties: mqtt.Properties{PayloadFormat: p[byte](1), MessageExpiry: p[uint32](60), ContentType: p("t"),
				ResponseTopic: p("r"), CorrelationData: []byte("c"), SubscriptionIDs: []uint32{7},
				TopicAlias: p[uint16](2), UserProperties: []mqtt.UserProperty{{Key: "a", Value: "b"}}}}},
		{Name: "publish topic alias only", Version: mqtt.V5, Raw: []byte{
			0x30, 7, // PUBLISH qos 0, remaining length 7
			0x00, 0x00, // empty topic
			3,                // property length
			0x23, 0x00, 0x01, // topic alias 1
			'x', // payload
		}, Packet: &mqtt.Publish{Properties: mqtt.Properties{TopicAlias: p[uint16](1)}, Payload: []byte("x")}},
		{Name: "publish two subscription identifiers", Version: mqtt.V5, Raw: []byte{
			0x31, 9, // PUBLISH qos 0 retain, remaining length 9
			0x00, 0x01, 't', // topic
			5,          // property length
			0x0B, 0x01, // subscription identifier 1
			0x0B, 0x81, 0x01, // subscription identifier 129
		}, Packet: &mqtt.Publish{Retain: true, Topic: "t", Properties: mqtt.Properties{SubscriptionIDs: []uint32{1, 129}}}},
		{Name: "puback success", Version: mqtt.V5, Raw: []byte{
			0x40, 2, // PUBACK, remaining length 2: reason and properties left out
			0x00, 0x01, // packet id 1
		}, Packet: &mqtt.Puback{PacketID: 1}},
		{Name: "puback reason only", Version: mqtt.V5, Raw: []byte{
			0x40, 3, // PUBACK, remaining length 3: property length left out
			0x00, 0x01, // packet id 1
			0x10, // no matching subscribers
		}, Packet: &mqtt.Puback{PacketID: 1, ReasonCode: mqtt.NoMatchingSubscribers}},
		{Name: "puback success explicit", Version: mqtt.V5, DecodeOnly: true, Raw: []byte{
			0x40, 4, // PUBACK, remaining length 4
			0x00, 0x01, // packet id 1
			0x00, // success
			0x00, // property length 0
		}, Packet: &mqtt.Puback{PacketID: 1}},
		{Name: "pubrec reason string", Version: mqtt.V5, Raw: []byte{
			0x50, 10, // PUBREC, remaining length 10
			0x00, 0x02, // packet id 2
			0x80,                            // unspecified error
			6,                               // property length
			0x1F, 0x00, 0x03, 'b', 'a', 'd', // reason string
		}, Packet: &mqtt.Pubrec{PacketID: 2, ReasonCode: mqtt.UnspecifiedError, Properties: mqtt.Properties{ReasonString: p("bad")}}},
		{Name: "pubrel not found", Version: mqtt.V5, Raw: []byte{
			0x62, 3, // PUBREL (flags 0010), remaining length 3
			0x00, 0x03, // packet id 3
			0x92, // packet identifier not found
		}, Packet: &mqtt.Pubrel{PacketID: 3, ReasonCode: mqtt.PacketIdentifierNotFound}},
		{Name: "pubcomp user property", Version: mqtt.V5, Raw: []byte{
			0x70, 11, // PUBCOMP, remaining length 11
			0x00, 0x04, // packet id 4
			0x00,                                   // success
			7,                                      // property length
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
		}, Packet: &mqtt.Pubcomp{PacketID: 4, Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}}}},
		{Name: "subscribe options", Version: mqtt.V5, Raw: []byte{
			0x82, 15, // SUBSCRIBE (flags 0010), remaining length 15
			0x00, 0x01, // packet id 1
			2,          // property length
			0x0B, 0x0A, // subscription identifier 10
			0x00, 0x03, 'a', '/', '+', // filter
			0x2D,            // options: retain handling 2, retain as published, no local, qos 1
			0x00, 0x01, 'b', // filter
			0x00, // options: qos 0
		}, Packet: &mqtt.Subscribe{PacketID: 1, Properties: mqtt.Properties{SubscriptionIDs: []uint32{10}},
			Subscriptions: []mqtt.Subscription{
				{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "b"}}}},
		{Name: "suback", Version: mqtt.V5, Raw: []byte{
			0x90, 10, // SUBACK, remaining length 10
			0x00, 0x01, // packet id 1
			4,                     // property length
			0x1F, 0x00, 0x01, 'x', // reason string
			0x01, // granted qos 1
			0x8F, // topic filter invalid
			0xA2, // wildcard subscriptions not supported
		}, Packet: &mqtt.Suback{PacketID: 1, Properties: mqtt.Properties{ReasonString: p("x")},
			ReasonCodes: []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.TopicFilterInvalid, mqtt.WildcardSubscriptionsNotSupported}}},
		{Name: "unsubscribe", Version: mqtt.V5, Raw: []byte{
			0xA2, 15, // UNSUBSCRIBE (flags 0010), remaining length 15
			0x00, 0x02, // packet id 2
			7,                                      // property length
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x00, 0x03, 'a', '/', '+', // filter
		}, Packet: &mqtt.Unsubscribe{PacketID: 2, Filters: []string{"a/+"},
			Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{{Key: "k", Value: "v"}}}}},
		{Name: "unsuback", Version: mqtt.V5, Raw: []byte{
			0xB0, 5, // UNSUBACK, remaining length 5
			0x00, 0x02, // packet id 2
			0x00, // property length 0
			0x00, // success
			0x11, // no subscription existed
		}, Packet: &mqtt.Unsuback{PacketID: 2, ReasonCodes: []mqtt.ReasonCode{mqtt.Success, mqtt.NoSubscriptionExisted}}},
		{Name: "pingreq", Version: mqtt.V5, Raw: []byte{
			0xC0, 0, // PINGREQ, remaining length 0
		}, Packet: &mqtt.Pingreq{}},
		{Name: "pingresp", Version: mqtt.V5, Raw: []byte{
			0xD0, 0, // PINGRESP, remaining length 0
		}, Packet: &mqtt.Pingresp{}},
		{Name: "disconnect normal", Version: mqtt.V5, Raw: []byte{
			0xE0, 0, // DISCONNECT, remaining length 0: normal, no properties
		}, Packet: &mqtt.Disconnect{}},
		{Name: "disconnect taken over", Version: mqtt.V5, Raw: []byte{
			0xE0, 1, // DISCONNECT, remaining length 1: property length left out
			0x8E, // session taken over
		}, Packet: &mqtt.Disconnect{ReasonCode: mqtt.SessionTakenOver}},
		{Name: "disconnect with will properties", Version: mqtt.V5, Raw: []byte{
			0xE0, 12, // DISCONNECT, remaining length 12
			0x04,                         // disconnect with will message
			10,                           // property length
			0x11, 0x00, 0x00, 0x00, 0x00, // session expiry 0
			0x1F, 0x00, 0x02, 'b', 'y', // reason string
		}, Packet: &mqtt.Disconnect{ReasonCode: mqtt.DisconnectWithWillMessage,
			Properties: mqtt.Properties{SessionExpiry: p[uint32](0), ReasonString: p("by")}}},
		{Name: "disconnect normal explicit", Version: mqtt.V5, DecodeOnly: true, Raw: []byte{
			0xE0, 2, // DISCONNECT, remaining length 2
			0x00, // normal disconnection
			0x00, // property length 0
		}, Packet: &mqtt.Disconnect{}},
		{Name: "auth success", Version: mqtt.V5, Raw: []byte{
			0xF0, 0, // AUTH, remaining length 0: success, no properties
		}, Packet: &mqtt.Auth{}},
		{Name: "auth continue", Version: mqtt.V5, Raw: []byte{
			0xF0, 15, // AUTH, remaining length 15
			0x18,                                      // continue authentication
			13,                                        // property length
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method
			0x16, 0x00, 0x02, 0x01, 0x02, // authentication data
		}, Packet: &mqtt.Auth{ReasonCode: mqtt.ContinueAuthentication,
			Properties: mqtt.Properties{AuthMethod: p("SCRAM"), AuthData: []byte{1, 2}}}},
		{Name: "auth reason only", Version: mqtt.V5, DecodeOnly: true, Raw: []byte{
			0xF0, 1, // AUTH, remaining length 1: property length left out
			0x19, // re-authenticate
		}, Packet: &mqtt.Auth{ReasonCode: mqtt.ReAuthenticate}},
	}
}
