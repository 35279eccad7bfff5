package mqtt

import "fmt"

// Version is the protocol level carried in CONNECT. It selects the wire form
// of every packet on a connection.
type Version byte

// Supported protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

// String names the version as users know it.
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("level %d", byte(v))
}

// valid reports whether the codec can speak v.
func (v Version) valid() bool { return v == V31 || v == V311 || v == V5 }

// PacketType is the control packet type in the high nibble of the first byte.
type PacketType byte

// Control packet types (MQTT 5.0 section 2.1.2).
const (
	CONNECT     PacketType = 1
	CONNACK     PacketType = 2
	PUBLISH     PacketType = 3
	PUBACK      PacketType = 4
	PUBREC      PacketType = 5
	PUBREL      PacketType = 6
	PUBCOMP     PacketType = 7
	SUBSCRIBE   PacketType = 8
	SUBACK      PacketType = 9
	UNSUBSCRIBE PacketType = 10
	UNSUBACK    PacketType = 11
	PINGREQ     PacketType = 12
	PINGRESP    PacketType = 13
	DISCONNECT  PacketType = 14
	AUTH        PacketType = 15 // MQTT 5 only; reserved in 3.1.1
)

var packetTypeNames = [...]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String gives the specification's upper-case name of the type.
func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Packet is any MQTT control packet. The concrete types are the pointer types
// of this package (*Connect, *Publish, ...).
type Packet interface {
	// Type is the control packet type written in the fixed header.
	Type() PacketType

	// check verifies that the packet can be written in version v.
	check(v Version) error
	// flags is the low nibble of the fixed header.
	flags() byte
	// size is the remaining length in version v.
	size(v Version) int
	// appendBody appends everything after the fixed header.
	appendBody(dst []byte, v Version) []byte
}

// Connect is the first packet a client sends.
type Connect struct {
	// ProtocolName is "MQIsdp" for 3.1 and "MQTT" otherwise. The decoder sets
	// it; the encoder writes it when set and the version's name when empty.
	ProtocolName string
	// Version is the protocol level the client asked for. The decoder sets
	// it; AppendPacket uses it when called with version 0.
	Version Version
	// CleanStart is Clean Session in 3.1/3.1.1.
	CleanStart bool
	KeepAlive  uint16
	ClientID   string
	// Will is nil when the Will Flag is 0.
	Will *Will
	// UsernameFlag and PasswordFlag tell an absent value from an empty one.
	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
	Properties   Properties
}

// Will is the message the server publishes when the connection ends
// abnormally.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties holds the MQTT 5 Will Properties (Will Delay Interval,
	// Payload Format, Message Expiry, Content Type, Response Topic,
	// Correlation Data, User Properties).
	Properties Properties
}

// Connack answers CONNECT.
type Connack struct {
	SessionPresent bool
	// ReasonCode is always an MQTT 5 code; for 3.1/3.1.1 the encoder writes
	// ReturnCodeFor(ReasonCode) and the decoder maps the return code back.
	ReasonCode ReasonCode
	Properties Properties
}

// Publish carries an application message.
type Publish struct {
	Dup    bool
	QoS    byte
	Retain bool
	// Topic may be empty in MQTT 5 when Properties.TopicAlias is set.
	Topic string
	// PacketID is present on the wire only for QoS 1 and 2.
	PacketID   uint16
	Properties Properties
	Payload    []byte
}

// Puback acknowledges a QoS 1 PUBLISH.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5 only
	Properties Properties
}

// Pubrec is the first acknowledgement of a QoS 2 PUBLISH.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5 only
	Properties Properties
}

// Pubrel releases a QoS 2 message after PUBREC.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5 only
	Properties Properties
}

// Pubcomp completes a QoS 2 exchange.
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5 only
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter string
	QoS    byte
	// NoLocal, RetainAsPublished and RetainHandling are MQTT 5 options; they
	// must be zero for 3.1/3.1.1 ([MQTT-3-8.3-4] reserves the bits).
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

// Subscribe asks for one or more subscriptions.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties
	Subscriptions []Subscription
}

// Suback answers SUBSCRIBE with one code per subscription, in order.
type Suback struct {
	PacketID   uint16
	Properties Properties
	// ReasonCodes are MQTT 5 codes; in 3.1.1 every failure is written as 0x80.
	ReasonCodes []ReasonCode
}

// Unsubscribe removes subscriptions.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback answers UNSUBSCRIBE.
type Unsuback struct {
	PacketID   uint16
	Properties Properties
	// ReasonCodes exist only in MQTT 5; 3.1/3.1.1 UNSUBACK carries none.
	ReasonCodes []ReasonCode
}

// Pingreq is the client's keep-alive probe.
type Pingreq struct{}

// Pingresp answers PINGREQ.
type Pingresp struct{}

// Disconnect ends a connection cleanly; in MQTT 5 either side may send it.
type Disconnect struct {
	ReasonCode ReasonCode // MQTT 5 only
	Properties Properties
}

// Auth carries an MQTT 5 extended authentication exchange.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Type implements Packet.
func (*Connect) Type() PacketType { return CONNECT }

// Type implements Packet.
func (*Connack) Type() PacketType { return CONNACK }

// Type implements Packet.
func (*Publish) Type() PacketType { return PUBLISH }

// Type implements Packet.
func (*Puback) Type() PacketType { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() PacketType { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() PacketType { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() PacketType { return PUBCOMP }

// Type implements Packet.
func (*Subscribe) Type() PacketType { return SUBSCRIBE }

// Type implements Packet.
func (*Suback) Type() PacketType { return SUBACK }

// Type implements Packet.
func (*Unsubscribe) Type() PacketType { return UNSUBSCRIBE }

// Type implements Packet.
func (*Unsuback) Type() PacketType { return UNSUBACK }

// Type implements Packet.
func (*Pingreq) Type() PacketType { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() PacketType { return PINGRESP }

// Type implements Packet.
func (*Disconnect) Type() PacketType { return DISCONNECT }

// Type implements Packet.
func (*Auth) Type() PacketType { return AUTH }
