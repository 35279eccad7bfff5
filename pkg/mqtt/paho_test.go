package mqtt_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	paho5 "github.com/eclipse/paho.golang/packets"
	paho3 "github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/mqtt/mqtttest"
)

// The cross-checks use the Eclipse Paho codecs as independent references:
// paho.golang for MQTT 5 and paho.mqtt.golang for 3.1/3.1.1. Each packet is
// encoded by one side and decoded by the other, both ways, and must come
// back equal to the original.

// crossPackets are the golden packets of version v that the reference can
// represent, plus packets that stress lengths.
func crossPackets(v mqtt.Version) []mqtttest.Case {
	var out []mqtttest.Case
	for _, c := range mqtttest.Packets() {
		if c.Version != v || c.DecodeOnly {
			continue
		}
		if v == mqtt.V5 && !pahoCanRepresent(c.Packet) {
			continue
		}
		out = append(out, c)
	}
	big := &mqtt.Publish{QoS: 1, PacketID: 9, Topic: strings.Repeat("t/", 100) + "x", Payload: bytes.Repeat([]byte("0123456789"), 7000)}
	many := &mqtt.Subscribe{PacketID: 77}
	for i := range 200 {
		many.Subscriptions = append(many.Subscriptions, mqtt.Subscription{Filter: fmt.Sprintf("f/%d/+", i), QoS: byte(i % 3)})
	}
	out = append(out, mqtttest.Case{Name: "big publish", Version: v, Packet: big},
		mqtttest.Case{Name: "many filters", Version: v, Packet: many})
	if v == mqtt.V5 {
		out = append(out, mqtttest.Case{Name: "big publish with properties", Version: v, Packet: &mqtt.Publish{
			QoS: 2, PacketID: 65535, Topic: "a", Payload: bytes.Repeat([]byte{0}, 20000),
			Properties: mqtt.Properties{UserProperties: []mqtt.UserProperty{{Key: "k", Value: strings.Repeat("v", 300)}, {Key: "k", Value: "2"}},
				MessageExpiry: mqtt.Ptr[uint32](1 << 31)}}})
	}
	return out
}

// pahoCanRepresent rules out what paho.golang's model cannot hold: more
// than one subscription identifier, present-but-empty strings, and AUTH,
// which it writes with fixed header flags 0001 (reserved bits set).
func pahoCanRepresent(p mqtt.Packet) bool {
	if p.Type() == mqtt.AUTH {
		return false
	}
	ok := true
	check := func(pr *mqtt.Properties) {
		if len(pr.SubscriptionIDs) > 1 {
			ok = false
		}
		for _, s := range []*string{pr.ContentType, pr.ResponseTopic, pr.AssignedClientID, pr.AuthMethod, pr.ResponseInfo, pr.ServerReference, pr.ReasonString} {
			if s != nil && *s == "" {
				ok = false
			}
		}
	}
	switch p := p.(type) {
	case *mqtt.Connect:
		check(&p.Properties)
		if p.Will != nil {
			check(&p.Will.Properties)
		}
	case *mqtt.Publish:
		check(&p.Properties)
	}
	return ok
}

func TestCrossCheckPaho5(t *testing.T) {
	for _, c := range crossPackets(mqtt.V5) {
		t.Run(c.Name, func(t *testing.T) {
			// Ours -> paho.
			raw, err := mqtt.AppendPacket(nil, c.Packet, mqtt.V5)
			if err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			// paho.golang cannot read a DISCONNECT of remaining length 0,
			// which MQTT 5 allows (section 3.14.2.1).
			if len(raw) > 2 || c.Packet.Type() != mqtt.DISCONNECT {
				cp, err := paho5.ReadPacket(bytes.NewReader(raw))
				if err != nil {
					t.Fatalf("paho ReadPacket(% x): %v", raw, err)
				}
				if got := fromPaho5(cp); !reflect.DeepEqual(got, c.Packet) {
					t.Fatalf("ours -> paho\n got %s\nwant %s", show(got), show(c.Packet))
				}
			}
			// Paho -> ours.
			var buf bytes.Buffer
			if _, err := toPaho5Packet(c.Packet).WriteTo(&buf); err != nil {
				t.Fatalf("paho WriteTo: %v", err)
			}
			rv := mqtt.V5
			if c.Packet.Type() == mqtt.CONNECT {
				rv = 0
			}
			got, err := mqtt.NewReader(&buf, 0).ReadPacket(rv)
			if err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if want := pahoWritable(c.Packet); !reflect.DeepEqual(got, want) {
				t.Fatalf("paho -> ours\n got %s\nwant %s", show(got), show(want))
			}
		})
	}
}

// pahoWritable is p as paho.golang writes it: it packs Will Properties with
// the CONNECT property filter, so of the will properties only Will Delay
// Interval and User Properties reach the wire.
func pahoWritable(p mqtt.Packet) mqtt.Packet {
	c, ok := p.(*mqtt.Connect)
	if !ok || c.Will == nil {
		return p
	}
	cc, w := *c, *c.Will
	w.Properties = mqtt.Properties{WillDelay: w.Properties.WillDelay, UserProperties: w.Properties.UserProperties}
	cc.Will = &w
	return &cc
}

func TestCrossCheckPaho311(t *testing.T) {
	cases := append(crossPackets(mqtt.V311), crossPackets(mqtt.V31)...)
	for _, c := range cases {
		t.Run(c.Version.String()+"/"+c.Name, func(t *testing.T) {
			raw, err := mqtt.AppendPacket(nil, c.Packet, c.Version)
			if err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			cp, err := paho3.ReadPacket(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("paho ReadPacket(% x): %v", raw, err)
			}
			if got := fromPaho3(cp); !reflect.DeepEqual(got, c.Packet) {
				t.Fatalf("ours -> paho\n got %s\nwant %s", show(got), show(c.Packet))
			}
			var buf bytes.Buffer
			if err := toPaho3(c.Packet).Write(&buf); err != nil {
				t.Fatalf("paho Write: %v", err)
			}
			rv := c.Version
			if c.Packet.Type() == mqtt.CONNECT {
				rv = 0
			}
			got, err := mqtt.NewReader(&buf, 0).ReadPacket(rv)
			if err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if !reflect.DeepEqual(got, c.Packet) {
				t.Fatalf("paho -> ours\n got %s\nwant %s", show(got), show(c.Packet))
			}
		})
	}
}

// ---- MQTT 5 conversion ----

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func bin(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func toPahoProps(p *mqtt.Properties) *paho5.Properties {
	q := &paho5.Properties{
		PayloadFormat: p.PayloadFormat, MessageExpiry: p.MessageExpiry, ContentType: str(p.ContentType),
		ResponseTopic: str(p.ResponseTopic), CorrelationData: p.CorrelationData, SessionExpiryInterval: p.SessionExpiry,
		AssignedClientID: str(p.AssignedClientID), ServerKeepAlive: p.ServerKeepAlive, AuthMethod: str(p.AuthMethod),
		AuthData: p.AuthData, RequestProblemInfo: p.RequestProblemInfo, WillDelayInterval: p.WillDelay,
		RequestResponseInfo: p.RequestResponseInfo, ResponseInfo: str(p.ResponseInfo), ServerReference: str(p.ServerReference),
		ReasonString: str(p.ReasonString), ReceiveMaximum: p.ReceiveMaximum, TopicAliasMaximum: p.TopicAliasMaximum,
		TopicAlias: p.TopicAlias, MaximumQOS: p.MaximumQoS, RetainAvailable: p.RetainAvailable,
		MaximumPacketSize: p.MaximumPacketSize, WildcardSubAvailable: p.WildcardSubAvailable,
		SubIDAvailable: p.SubIDAvailable, SharedSubAvailable: p.SharedSubAvailable,
	}
	if len(p.SubscriptionIDs) == 1 {
		id := int(p.SubscriptionIDs[0])
		q.SubscriptionIdentifier = &id
	}
	for _, u := range p.UserProperties {
		q.User = append(q.User, paho5.User{Key: u.Key, Value: u.Value})
	}
	return q
}

func fromPahoProps(q *paho5.Properties) mqtt.Properties {
	if q == nil {
		return mqtt.Properties{}
	}
	p := mqtt.Properties{
		PayloadFormat: q.PayloadFormat, MessageExpiry: q.MessageExpiry, ContentType: strp(q.ContentType),
		ResponseTopic: strp(q.ResponseTopic), CorrelationData: bin(q.CorrelationData), SessionExpiry: q.SessionExpiryInterval,
		AssignedClientID: strp(q.AssignedClientID), ServerKeepAlive: q.ServerKeepAlive, AuthMethod: strp(q.AuthMethod),
		AuthData: bin(q.AuthData), RequestProblemInfo: q.RequestProblemInfo, WillDelay: q.WillDelayInterval,
		RequestResponseInfo: q.RequestResponseInfo, ResponseInfo: strp(q.ResponseInfo), ServerReference: strp(q.ServerReference),
		ReasonString: strp(q.ReasonString), ReceiveMaximum: q.ReceiveMaximum, TopicAliasMaximum: q.TopicAliasMaximum,
		TopicAlias: q.TopicAlias, MaximumQoS: q.MaximumQOS, RetainAvailable: q.RetainAvailable,
		MaximumPacketSize: q.MaximumPacketSize, WildcardSubAvailable: q.WildcardSubAvailable,
		SubIDAvailable: q.SubIDAvailable, SharedSubAvailable: q.SharedSubAvailable,
	}
	if q.SubscriptionIdentifier != nil {
		p.SubscriptionIDs = []uint32{uint32(*q.SubscriptionIdentifier)}
	}
	for _, u := range q.User {
		p.UserProperties = append(p.UserProperties, mqtt.UserProperty{Key: u.Key, Value: u.Value})
	}
	return p
}

func codes(b []byte) []mqtt.ReasonCode {
	var out []mqtt.ReasonCode
	for _, c := range b {
		out = append(out, mqtt.ReasonCode(c))
	}
	return out
}

func codeBytes(rcs []mqtt.ReasonCode) []byte {
	var out []byte
	for _, c := range rcs {
		out = append(out, byte(c))
	}
	return out
}

func toPaho5Packet(p mqtt.Packet) paho5.Packet {
	switch p := p.(type) {
	case *mqtt.Connect:
		c := &paho5.Connect{ProtocolName: p.ProtocolName, ProtocolVersion: byte(p.Version), CleanStart: p.CleanStart,
			KeepAlive: p.KeepAlive, ClientID: p.ClientID, UsernameFlag: p.UsernameFlag, Username: p.Username,
			PasswordFlag: p.PasswordFlag, Password: p.Password, Properties: toPahoProps(&p.Properties)}
		if w := p.Will; w != nil {
			c.WillFlag, c.WillTopic, c.WillMessage, c.WillQOS, c.WillRetain = true, w.Topic, w.Payload, w.QoS, w.Retain
			c.WillProperties = toPahoProps(&w.Properties)
		}
		return c
	case *mqtt.Connack:
		return &paho5.Connack{SessionPresent: p.SessionPresent, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Publish:
		return &paho5.Publish{Duplicate: p.Dup, QoS: p.QoS, Retain: p.Retain, Topic: p.Topic, PacketID: p.PacketID,
			Payload: p.Payload, Properties: toPahoProps(&p.Properties)}
	case *mqtt.Puback:
		return &paho5.Puback{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Pubrec:
		return &paho5.Pubrec{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Pubrel:
		return &paho5.Pubrel{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Pubcomp:
		return &paho5.Pubcomp{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Subscribe:
		s := &paho5.Subscribe{PacketID: p.PacketID, Properties: toPahoProps(&p.Properties)}
		for _, o := range p.Subscriptions {
			s.Subscriptions = append(s.Subscriptions, paho5.SubOptions{Topic: o.Filter, QoS: o.QoS, NoLocal: o.NoLocal,
				RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling})
		}
		return s
	case *mqtt.Suback:
		return &paho5.Suback{PacketID: p.PacketID, Reasons: codeBytes(p.ReasonCodes), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Unsubscribe:
		return &paho5.Unsubscribe{PacketID: p.PacketID, Topics: p.Filters, Properties: toPahoProps(&p.Properties)}
	case *mqtt.Unsuback:
		return &paho5.Unsuback{PacketID: p.PacketID, Reasons: codeBytes(p.ReasonCodes), Properties: toPahoProps(&p.Properties)}
	case *mqtt.Pingreq:
		return &paho5.Pingreq{}
	case *mqtt.Pingresp:
		return &paho5.Pingresp{}
	case *mqtt.Disconnect:
		return &paho5.Disconnect{ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Properties)}
	}
	panic(fmt.Sprintf("no paho form for %T", p))
}

func fromPaho5(cp *paho5.ControlPacket) mqtt.Packet {
	switch p := cp.Content.(type) {
	case *paho5.Connect:
		c := &mqtt.Connect{ProtocolName: p.ProtocolName, Version: mqtt.Version(p.ProtocolVersion), CleanStart: p.CleanStart,
			KeepAlive: p.KeepAlive, ClientID: p.ClientID, UsernameFlag: p.UsernameFlag, Username: p.Username,
			PasswordFlag: p.PasswordFlag, Password: p.Password, Properties: fromPahoProps(p.Properties)}
		if p.WillFlag {
			c.Will = &mqtt.Will{Topic: p.WillTopic, Payload: p.WillMessage, QoS: p.WillQOS, Retain: p.WillRetain,
				Properties: fromPahoProps(p.WillProperties)}
		}
		return c
	case *paho5.Connack:
		return &mqtt.Connack{SessionPresent: p.SessionPresent, ReasonCode: mqtt.ReasonCode(p.ReasonCode), Properties: fromPahoProps(p.Properties)}
	case *paho5.Publish:
		return &mqtt.Publish{Dup: p.Duplicate, QoS: p.QoS, Retain: p.Retain, Topic: p.Topic, PacketID: p.PacketID,
			Payload: bin(p.Payload), Properties: fromPahoProps(p.Properties)}
	case *paho5.Puback:
		return &mqtt.Puback{PacketID: p.PacketID, ReasonCode: mqtt.ReasonCode(p.ReasonCode), Properties: fromPahoProps(p.Properties)}
	case *paho5.Pubrec:
		return &mqtt.Pubrec{PacketID: p.PacketID, ReasonCode: mqtt.ReasonCode(p.ReasonCode), Properties: fromPahoProps(p.Properties)}
	case *paho5.Pubrel:
		return &mqtt.Pubrel{PacketID: p.PacketID, ReasonCode: mqtt.ReasonCode(p.ReasonCode), Properties: fromPahoProps(p.Properties)}
	case *paho5.Pubcomp:
		return &mqtt.Pubcomp{PacketID: p.PacketID, ReasonCode: mqtt.ReasonCode(p.ReasonCode), Properties: fromPahoProps(p.Properties)}
	case *paho5.Subscribe:
		s := &mqtt.Subscribe{PacketID: p.PacketID, Properties: fromPahoProps(p.Properties)}
		for _, o := range p.Subscriptions {
			s.Subscriptions = append(s.Subscriptions, mqtt.Subscription{Filter: o.Topic, QoS: o.QoS, NoLocal: o.NoLocal,
				RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling})
		}
		return s
	case *paho5.Suback:
		return &mqtt.Suback{PacketID: p.PacketID, ReasonCodes: codes(p.Reasons), Properties: fromPahoProps(p.Properties)}
	case *paho5.Unsubscribe:
		return &mqtt.Unsubscribe{PacketID: p.PacketID, Filters: p.Topics, Properties: fromPahoProps(p.Properties)}
	case *paho5.Unsuback:
		return &mqtt.Unsuback{PacketID: p.PacketID, ReasonCodes: codes(p.Reasons), Properties: fromPahoProps(p.Properties)}
	case *paho5.Pingreq:
		return &mqtt.Pingreq{}
	case *paho5.Pingresp:
		return &mqtt.Pingresp{}
	case *paho5.Disconnect:
		return &mqtt.Disconnect{ReasonCode: mqtt.ReasonCode(p.ReasonCode), Properties: fromPahoProps(p.Properties)}
	}
	panic(fmt.Sprintf("no conversion for %T", cp.Content))
}

// ---- MQTT 3.1/3.1.1 conversion ----

func toPaho3(p mqtt.Packet) paho3.ControlPacket {
	switch p := p.(type) {
	case *mqtt.Connect:
		c := paho3.NewControlPacket(paho3.Connect).(*paho3.ConnectPacket)
		c.ProtocolName, c.ProtocolVersion, c.CleanSession, c.Keepalive = p.ProtocolName, byte(p.Version), p.CleanStart, p.KeepAlive
		c.ClientIdentifier, c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = p.ClientID, p.UsernameFlag, p.Username, p.PasswordFlag, p.Password
		if w := p.Will; w != nil {
			c.WillFlag, c.WillTopic, c.WillMessage, c.WillQos, c.WillRetain = true, w.Topic, w.Payload, w.QoS, w.Retain
		}
		return c
	case *mqtt.Connack:
		c := paho3.NewControlPacket(paho3.Connack).(*paho3.ConnackPacket)
		c.SessionPresent, c.ReturnCode = p.SessionPresent, byte(mqtt.ReturnCodeFor(p.ReasonCode))
		return c
	case *mqtt.Publish:
		c := paho3.NewControlPacket(paho3.Publish).(*paho3.PublishPacket)
		c.Dup, c.Qos, c.Retain, c.TopicName, c.MessageID, c.Payload = p.Dup, p.QoS, p.Retain, p.Topic, p.PacketID, p.Payload
		return c
	case *mqtt.Puback:
		c := paho3.NewControlPacket(paho3.Puback).(*paho3.PubackPacket)
		c.MessageID = p.PacketID
		return c
	case *mqtt.Pubrec:
		c := paho3.NewControlPacket(paho3.Pubrec).(*paho3.PubrecPacket)
		c.MessageID = p.PacketID
		return c
	case *mqtt.Pubrel:
		c := paho3.NewControlPacket(paho3.Pubrel).(*paho3.PubrelPacket)
		c.MessageID = p.PacketID
		return c
	case *mqtt.Pubcomp:
		c := paho3.NewControlPacket(paho3.Pubcomp).(*paho3.PubcompPacket)
		c.MessageID = p.PacketID
		return c
	case *mqtt.Subscribe:
		c := paho3.NewControlPacket(paho3.Subscribe).(*paho3.SubscribePacket)
		c.MessageID = p.PacketID
		for _, s := range p.Subscriptions {
			c.Topics = append(c.Topics, s.Filter)
			c.Qoss = append(c.Qoss, s.QoS)
		}
		return c
	case *mqtt.Suback:
		c := paho3.NewControlPacket(paho3.Suback).(*paho3.SubackPacket)
		c.MessageID, c.ReturnCodes = p.PacketID, codeBytes(p.ReasonCodes)
		return c
	case *mqtt.Unsubscribe:
		c := paho3.NewControlPacket(paho3.Unsubscribe).(*paho3.UnsubscribePacket)
		c.MessageID, c.Topics = p.PacketID, p.Filters
		return c
	case *mqtt.Unsuback:
		c := paho3.NewControlPacket(paho3.Unsuback).(*paho3.UnsubackPacket)
		c.MessageID = p.PacketID
		return c
	case *mqtt.Pingreq:
		return paho3.NewControlPacket(paho3.Pingreq)
	case *mqtt.Pingresp:
		return paho3.NewControlPacket(paho3.Pingresp)
	case *mqtt.Disconnect:
		return paho3.NewControlPacket(paho3.Disconnect)
	}
	panic(fmt.Sprintf("no paho form for %T", p))
}

func fromPaho3(cp paho3.ControlPacket) mqtt.Packet {
	switch p := cp.(type) {
	case *paho3.ConnectPacket:
		c := &mqtt.Connect{ProtocolName: p.ProtocolName, Version: mqtt.Version(p.ProtocolVersion), CleanStart: p.CleanSession,
			KeepAlive: p.Keepalive, ClientID: p.ClientIdentifier, UsernameFlag: p.UsernameFlag, Username: p.Username,
			PasswordFlag: p.PasswordFlag, Password: p.Password}
		if p.WillFlag {
			c.Will = &mqtt.Will{Topic: p.WillTopic, Payload: p.WillMessage, QoS: p.WillQos, Retain: p.WillRetain}
		}
		return c
	case *paho3.ConnackPacket:
		rc, _ := mqtt.ReturnCode(p.ReturnCode).ReasonCode()
		return &mqtt.Connack{SessionPresent: p.SessionPresent, ReasonCode: rc}
	case *paho3.PublishPacket:
		return &mqtt.Publish{Dup: p.Dup, QoS: p.Qos, Retain: p.Retain, Topic: p.TopicName, PacketID: p.MessageID, Payload: bin(p.Payload)}
	case *paho3.PubackPacket:
		return &mqtt.Puback{PacketID: p.MessageID}
	case *paho3.PubrecPacket:
		return &mqtt.Pubrec{PacketID: p.MessageID}
	case *paho3.PubrelPacket:
		return &mqtt.Pubrel{PacketID: p.MessageID}
	case *paho3.PubcompPacket:
		return &mqtt.Pubcomp{PacketID: p.MessageID}
	case *paho3.SubscribePacket:
		s := &mqtt.Subscribe{PacketID: p.MessageID}
		for i, f := range p.Topics {
			s.Subscriptions = append(s.Subscriptions, mqtt.Subscription{Filter: f, QoS: p.Qoss[i]})
		}
		return s
	case *paho3.SubackPacket:
		return &mqtt.Suback{PacketID: p.MessageID, ReasonCodes: codes(p.ReturnCodes)}
	case *paho3.UnsubscribePacket:
		return &mqtt.Unsubscribe{PacketID: p.MessageID, Filters: p.Topics}
	case *paho3.UnsubackPacket:
		return &mqtt.Unsuback{PacketID: p.MessageID}
	case *paho3.PingreqPacket:
		return &mqtt.Pingreq{}
	case *paho3.PingrespPacket:
		return &mqtt.Pingresp{}
	case *paho3.DisconnectPacket:
		return &mqtt.Disconnect{}
	}
	panic(fmt.Sprintf("no conversion for %T", cp))
}
