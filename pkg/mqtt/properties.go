package mqtt

import "fmt"

// Properties holds the MQTT 5 properties of a packet (MQTT 5.0 section
// 2.2.2.2). A nil pointer or nil slice means the property is absent, which
// the specification distinguishes from a zero value (e.g. Session Expiry
// Interval 0 sent explicitly at DISCONNECT). Use Ptr to set a value.
type Properties struct {
	PayloadFormat        *byte          // 0x01 PUBLISH, Will
	MessageExpiry        *uint32        // 0x02 PUBLISH, Will
	ContentType          *string        // 0x03 PUBLISH, Will
	ResponseTopic        *string        // 0x08 PUBLISH, Will
	CorrelationData      []byte         // 0x09 PUBLISH, Will; non-nil empty = present and empty
	SubscriptionIDs      []uint32       // 0x0B PUBLISH (several), SUBSCRIBE (one)
	SessionExpiry        *uint32        // 0x11 CONNECT, CONNACK, DISCONNECT
	AssignedClientID     *string        // 0x12 CONNACK
	ServerKeepAlive      *uint16        // 0x13 CONNACK
	AuthMethod           *string        // 0x15 CONNECT, CONNACK, AUTH
	AuthData             []byte         // 0x16 CONNECT, CONNACK, AUTH
	RequestProblemInfo   *byte          // 0x17 CONNECT
	WillDelay            *uint32        // 0x18 Will
	RequestResponseInfo  *byte          // 0x19 CONNECT
	ResponseInfo         *string        // 0x1A CONNACK
	ServerReference      *string        // 0x1C CONNACK, DISCONNECT
	ReasonString         *string        // 0x1F acks, DISCONNECT, AUTH
	ReceiveMaximum       *uint16        // 0x21 CONNECT, CONNACK
	TopicAliasMaximum    *uint16        // 0x22 CONNECT, CONNACK
	TopicAlias           *uint16        // 0x23 PUBLISH
	MaximumQoS           *byte          // 0x24 CONNACK
	RetainAvailable      *byte          // 0x25 CONNACK
	UserProperties       []UserProperty // 0x26 every packet with properties; order kept
	MaximumPacketSize    *uint32        // 0x27 CONNECT, CONNACK
	WildcardSubAvailable *byte          // 0x28 CONNACK
	SubIDAvailable       *byte          // 0x29 CONNACK
	SharedSubAvailable   *byte          // 0x2A CONNACK
}

// UserProperty is one name/value pair; names may repeat.
type UserProperty struct {
	Key, Value string
}

// Ptr returns a pointer to v, to set optional properties in one expression.
func Ptr[T any](v T) *T { return &v }

// Property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	propPayloadFormat        = 0x01
	propMessageExpiry        = 0x02
	propContentType          = 0x03
	propResponseTopic        = 0x08
	propCorrelationData      = 0x09
	propSubscriptionID       = 0x0B
	propSessionExpiry        = 0x11
	propAssignedClientID     = 0x12
	propServerKeepAlive      = 0x13
	propAuthMethod           = 0x15
	propAuthData             = 0x16
	propRequestProblemInfo   = 0x17
	propWillDelay            = 0x18
	propRequestResponseInfo  = 0x19
	propResponseInfo         = 0x1A
	propServerReference      = 0x1C
	propReasonString         = 0x1F
	propReceiveMaximum       = 0x21
	propTopicAliasMaximum    = 0x22
	propTopicAlias           = 0x23
	propMaximumQoS           = 0x24
	propRetainAvailable      = 0x25
	propUserProperty         = 0x26
	propMaximumPacketSize    = 0x27
	propWildcardSubAvailable = 0x28
	propSubIDAvailable       = 0x29
	propSharedSubAvailable   = 0x2A
)

// Property contexts: the packet type, or ctxWill for the Will Properties in
// CONNECT, or ctxAny for a block decoded on its own.
const (
	ctxWill uint8 = 0
	ctxAny  uint8 = 16
)

const (
	inWill    = 1 << ctxWill
	inConnect = 1 << CONNECT
	inConnack = 1 << CONNACK
	inPublish = 1 << PUBLISH
	inAcks    = 1<<PUBACK | 1<<PUBREC | 1<<PUBREL | 1<<PUBCOMP | 1<<SUBACK | 1<<UNSUBACK
	inSub     = 1 << SUBSCRIBE
	inUnsub   = 1 << UNSUBSCRIBE
	inDisc    = 1 << DISCONNECT
	inAuth    = 1 << AUTH
)

// propAllowed lists, per identifier, the packets that may carry it
// (MQTT 5.0 table 2-4); zero means the identifier does not exist.
var propAllowed = [64]uint16{
	propPayloadFormat:        inPublish | inWill,
	propMessageExpiry:        inPublish | inWill,
	propContentType:          inPublish | inWill,
	propResponseTopic:        inPublish | inWill,
	propCorrelationData:      inPublish | inWill,
	propSubscriptionID:       inPublish | inSub,
	propSessionExpiry:        inConnect | inConnack | inDisc,
	propAssignedClientID:     inConnack,
	propServerKeepAlive:      inConnack,
	propAuthMethod:           inConnect | inConnack | inAuth,
	propAuthData:             inConnect | inConnack | inAuth,
	propRequestProblemInfo:   inConnect,
	propWillDelay:            inWill,
	propRequestResponseInfo:  inConnect,
	propResponseInfo:         inConnack,
	propServerReference:      inConnack | inDisc,
	propReasonString:         inConnack | inAcks | inDisc | inAuth,
	propReceiveMaximum:       inConnect | inConnack,
	propTopicAliasMaximum:    inConnect | inConnack,
	propTopicAlias:           inPublish,
	propMaximumQoS:           inConnack,
	propRetainAvailable:      inConnack,
	propUserProperty:         inWill | inConnect | inConnack | inPublish | inAcks | inSub | inUnsub | inDisc | inAuth,
	propMaximumPacketSize:    inConnect | inConnack,
	propWildcardSubAvailable: inConnack,
	propSubIDAvailable:       inConnack,
	propSharedSubAvailable:   inConnack,
}

func ctxName(ctx uint8) string {
	switch ctx {
	case ctxWill:
		return "will properties"
	case ctxAny:
		return "properties"
	}
	return PacketType(ctx).String()
}

// propertiesSize is the length of the encoded block without its length
// prefix.
func propertiesSize(p *Properties) int {
	n := 0
	if p.PayloadFormat != nil {
		n += 2
	}
	if p.MessageExpiry != nil {
		n += 5
	}
	if p.ContentType != nil {
		n += 3 + len(*p.ContentType)
	}
	if p.ResponseTopic != nil {
		n += 3 + len(*p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		n += 3 + len(p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		n += 1 + varintSize(int(id))
	}
	if p.SessionExpiry != nil {
		n += 5
	}
	if p.AssignedClientID != nil {
		n += 3 + len(*p.AssignedClientID)
	}
	if p.ServerKeepAlive != nil {
		n += 3
	}
	if p.AuthMethod != nil {
		n += 3 + len(*p.AuthMethod)
	}
	if p.AuthData != nil {
		n += 3 + len(p.AuthData)
	}
	if p.RequestProblemInfo != nil {
		n += 2
	}
	if p.WillDelay != nil {
		n += 5
	}
	if p.RequestResponseInfo != nil {
		n += 2
	}
	if p.ResponseInfo != nil {
		n += 3 + len(*p.ResponseInfo)
	}
	if p.ServerReference != nil {
		n += 3 + len(*p.ServerReference)
	}
	if p.ReasonString != nil {
		n += 3 + len(*p.ReasonString)
	}
	if p.ReceiveMaximum != nil {
		n += 3
	}
	if p.TopicAliasMaximum != nil {
		n += 3
	}
	if p.TopicAlias != nil {
		n += 3
	}
	if p.MaximumQoS != nil {
		n += 2
	}
	if p.RetainAvailable != nil {
		n += 2
	}
	for _, u := range p.UserProperties {
		n += 5 + len(u.Key) + len(u.Value)
	}
	if p.MaximumPacketSize != nil {
		n += 5
	}
	if p.WildcardSubAvailable != nil {
		n += 2
	}
	if p.SubIDAvailable != nil {
		n += 2
	}
	if p.SharedSubAvailable != nil {
		n += 2
	}
	return n
}

// AppendProperties appends the encoded property block of p to dst, without
// the leading length varint. Other parts store PUBLISH properties in record
// headers in this form. Properties are written in identifier order; User
// Properties keep their order ([MQTT-3.3.2-18]).
func AppendProperties(dst []byte, p *Properties) []byte {
	if p.PayloadFormat != nil {
		dst = append(dst, propPayloadFormat, *p.PayloadFormat)
	}
	if p.MessageExpiry != nil {
		dst = appendUint32(append(dst, propMessageExpiry), *p.MessageExpiry)
	}
	if p.ContentType != nil {
		dst = appendString(append(dst, propContentType), *p.ContentType)
	}
	if p.ResponseTopic != nil {
		dst = appendString(append(dst, propResponseTopic), *p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		dst = appendBinary(append(dst, propCorrelationData), p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		dst = appendVarint(append(dst, propSubscriptionID), id)
	}
	if p.SessionExpiry != nil {
		dst = appendUint32(append(dst, propSessionExpiry), *p.SessionExpiry)
	}
	if p.AssignedClientID != nil {
		dst = appendString(append(dst, propAssignedClientID), *p.AssignedClientID)
	}
	if p.ServerKeepAlive != nil {
		dst = appendUint16(append(dst, propServerKeepAlive), *p.ServerKeepAlive)
	}
	if p.AuthMethod != nil {
		dst = appendString(append(dst, propAuthMethod), *p.AuthMethod)
	}
	if p.AuthData != nil {
		dst = appendBinary(append(dst, propAuthData), p.AuthData)
	}
	if p.RequestProblemInfo != nil {
		dst = append(dst, propRequestProblemInfo, *p.RequestProblemInfo)
	}
	if p.WillDelay != nil {
		dst = appendUint32(append(dst, propWillDelay), *p.WillDelay)
	}
	if p.RequestResponseInfo != nil {
		dst = append(dst, propRequestResponseInfo, *p.RequestResponseInfo)
	}
	if p.ResponseInfo != nil {
		dst = appendString(append(dst, propResponseInfo), *p.ResponseInfo)
	}
	if p.ServerReference != nil {
		dst = appendString(append(dst, propServerReference), *p.ServerReference)
	}
	if p.ReasonString != nil {
		dst = appendString(append(dst, propReasonString), *p.ReasonString)
	}
	if p.ReceiveMaximum != nil {
		dst = appendUint16(append(dst, propReceiveMaximum), *p.ReceiveMaximum)
	}
	if p.TopicAliasMaximum != nil {
		dst = appendUint16(append(dst, propTopicAliasMaximum), *p.TopicAliasMaximum)
	}
	if p.TopicAlias != nil {
		dst = appendUint16(append(dst, propTopicAlias), *p.TopicAlias)
	}
	if p.MaximumQoS != nil {
		dst = append(dst, propMaximumQoS, *p.MaximumQoS)
	}
	if p.RetainAvailable != nil {
		dst = append(dst, propRetainAvailable, *p.RetainAvailable)
	}
	for _, u := range p.UserProperties {
		dst = appendString(append(dst, propUserProperty), u.Key)
		dst = appendString(dst, u.Value)
	}
	if p.MaximumPacketSize != nil {
		dst = appendUint32(append(dst, propMaximumPacketSize), *p.MaximumPacketSize)
	}
	if p.WildcardSubAvailable != nil {
		dst = append(dst, propWildcardSubAvailable, *p.WildcardSubAvailable)
	}
	if p.SubIDAvailable != nil {
		dst = append(dst, propSubIDAvailable, *p.SubIDAvailable)
	}
	if p.SharedSubAvailable != nil {
		dst = append(dst, propSharedSubAvailable, *p.SharedSubAvailable)
	}
	return dst
}

// appendPropertyBlock writes the length-prefixed block of a packet.
func appendPropertyBlock(dst []byte, p *Properties, size int) []byte {
	dst = appendVarint(dst, uint32(size))
	return AppendProperties(dst, p)
}

// present is a bit set of the single-valued properties that are set, for
// the allowed-in-packet check.
func (p *Properties) present() uint64 {
	var m uint64
	set := func(ok bool, id uint) {
		if ok {
			m |= 1 << id
		}
	}
	set(p.PayloadFormat != nil, propPayloadFormat)
	set(p.MessageExpiry != nil, propMessageExpiry)
	set(p.ContentType != nil, propContentType)
	set(p.ResponseTopic != nil, propResponseTopic)
	set(p.CorrelationData != nil, propCorrelationData)
	set(len(p.SubscriptionIDs) > 0, propSubscriptionID)
	set(p.SessionExpiry != nil, propSessionExpiry)
	set(p.AssignedClientID != nil, propAssignedClientID)
	set(p.ServerKeepAlive != nil, propServerKeepAlive)
	set(p.AuthMethod != nil, propAuthMethod)
	set(p.AuthData != nil, propAuthData)
	set(p.RequestProblemInfo != nil, propRequestProblemInfo)
	set(p.WillDelay != nil, propWillDelay)
	set(p.RequestResponseInfo != nil, propRequestResponseInfo)
	set(p.ResponseInfo != nil, propResponseInfo)
	set(p.ServerReference != nil, propServerReference)
	set(p.ReasonString != nil, propReasonString)
	set(p.ReceiveMaximum != nil, propReceiveMaximum)
	set(p.TopicAliasMaximum != nil, propTopicAliasMaximum)
	set(p.TopicAlias != nil, propTopicAlias)
	set(p.MaximumQoS != nil, propMaximumQoS)
	set(p.RetainAvailable != nil, propRetainAvailable)
	set(len(p.UserProperties) > 0, propUserProperty)
	set(p.MaximumPacketSize != nil, propMaximumPacketSize)
	set(p.WildcardSubAvailable != nil, propWildcardSubAvailable)
	set(p.SubIDAvailable != nil, propSubIDAvailable)
	set(p.SharedSubAvailable != nil, propSharedSubAvailable)
	return m
}

// checkProperties verifies before encoding that p fits packet ctx and that
// every value is representable.
func checkProperties(p *Properties, ctx uint8) error {
	m := p.present()
	for id := uint(0); m != 0; id++ {
		if m&1 != 0 && propAllowed[id]&(1<<ctx) == 0 {
			return fmt.Errorf("property 0x%02X not allowed in %s: %w", id, ctxName(ctx), ProtocolError)
		}
		m >>= 1
	}
	if ctx == uint8(SUBSCRIBE) && len(p.SubscriptionIDs) > 1 {
		return fmt.Errorf("more than one subscription identifier: %w", ProtocolError)
	}
	for _, id := range p.SubscriptionIDs {
		if id == 0 || id > maxVarint {
			return fmt.Errorf("subscription identifier %d out of range: %w", id, ProtocolError)
		}
	}
	strs := [...]*string{p.ContentType, p.ResponseTopic, p.AssignedClientID, p.AuthMethod, p.ResponseInfo, p.ServerReference, p.ReasonString}
	for _, s := range strs {
		if s != nil && len(*s) > 0xffff {
			return fmt.Errorf("property: %w", errStringLen)
		}
	}
	if len(p.CorrelationData) > 0xffff || len(p.AuthData) > 0xffff {
		return fmt.Errorf("property: %w", errStringLen)
	}
	for _, u := range p.UserProperties {
		if len(u.Key) > 0xffff || len(u.Value) > 0xffff {
			return fmt.Errorf("user property: %w", errStringLen)
		}
	}
	return nil
}

// DecodeProperties decodes a property block without its length prefix, as
// written by AppendProperties. It checks identifiers, value types, value
// ranges and duplicates but not which packet a property belongs to. Errors
// wrap MalformedPacket or ProtocolError.
func DecodeProperties(b []byte) (*Properties, error) {
	p := new(Properties)
	d := decoder{b: b}
	parseProperties(&d, p, ctxAny)
	if d.err != nil {
		return nil, fmt.Errorf("decode properties: %w", d.err)
	}
	return p, nil
}

// decodeProperties reads the length-prefixed property block of a packet.
func (d *decoder) properties(p *Properties, ctx uint8) {
	n := d.varint("property length")
	if d.err != nil {
		return
	}
	block := d.take("properties", int(n))
	if d.err != nil {
		return
	}
	sub := decoder{b: block, owned: d.owned}
	parseProperties(&sub, p, ctx)
	if sub.err != nil {
		d.err = fmt.Errorf("%s: %w", ctxName(ctx), sub.err)
	}
}

var (
	errPropUnknown   = fmt.Errorf("unknown property identifier: %w", MalformedPacket)
	errPropWrongPkt  = fmt.Errorf("property not allowed in this packet: %w", MalformedPacket)
	errPropDuplicate = fmt.Errorf("property included more than once: %w", ProtocolError)
	errPropBool      = fmt.Errorf("value other than 0 or 1: %w", ProtocolError)
	errPropZero      = fmt.Errorf("value 0 not permitted: %w", ProtocolError)
	errAuthData      = fmt.Errorf("authentication data without authentication method: %w", ProtocolError)
	errTopicAlias0   = fmt.Errorf("topic alias 0 [MQTT-3.3.2-8]: %w", TopicAliasInvalid)
)

// parseProperties decodes a whole block held in d. "A Control Packet which
// contains an Identifier which is not valid for its packet type, or contains
// a value not of the specified data type, is a Malformed Packet" (MQTT 5.0
// section 2.2.2.2); repeating a single-valued property is a Protocol Error.
func parseProperties(d *decoder, p *Properties, ctx uint8) {
	var seen uint64
	for d.err == nil && d.left() > 0 {
		id := d.varint("property identifier")
		if d.err != nil {
			return
		}
		if id >= 64 || propAllowed[id] == 0 {
			d.fail(fmt.Sprintf("property 0x%02X", id), errPropUnknown)
			return
		}
		field := propNames[id]
		if ctx != ctxAny && propAllowed[id]&(1<<ctx) == 0 {
			d.fail(field, errPropWrongPkt)
			return
		}
		multi := id == propUserProperty || (id == propSubscriptionID && ctx != uint8(SUBSCRIBE))
		if seen&(1<<id) != 0 && !multi {
			d.fail(field, errPropDuplicate)
			return
		}
		seen |= 1 << id
		switch id {
		case propPayloadFormat:
			p.PayloadFormat = d.flag(field)
		case propMessageExpiry:
			p.MessageExpiry = Ptr(d.u32(field))
		case propContentType:
			p.ContentType = Ptr(d.str(field))
		case propResponseTopic:
			p.ResponseTopic = Ptr(d.str(field))
		case propCorrelationData:
			p.CorrelationData = d.binary(field)
		case propSubscriptionID:
			v := d.varint(field)
			if d.err == nil && v == 0 {
				d.fail(field, errPropZero)
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case propSessionExpiry:
			p.SessionExpiry = Ptr(d.u32(field))
		case propAssignedClientID:
			p.AssignedClientID = Ptr(d.str(field))
		case propServerKeepAlive:
			p.ServerKeepAlive = Ptr(d.u16(field))
		case propAuthMethod:
			p.AuthMethod = Ptr(d.str(field))
		case propAuthData:
			p.AuthData = d.binary(field)
		case propRequestProblemInfo:
			p.RequestProblemInfo = d.flag(field)
		case propWillDelay:
			p.WillDelay = Ptr(d.u32(field))
		case propRequestResponseInfo:
			p.RequestResponseInfo = d.flag(field)
		case propResponseInfo:
			p.ResponseInfo = Ptr(d.str(field))
		case propServerReference:
			p.ServerReference = Ptr(d.str(field))
		case propReasonString:
			p.ReasonString = Ptr(d.str(field))
		case propReceiveMaximum:
			p.ReceiveMaximum = d.nonZero16(field, errPropZero)
		case propTopicAliasMaximum:
			p.TopicAliasMaximum = Ptr(d.u16(field))
		case propTopicAlias:
			p.TopicAlias = d.nonZero16(field, errTopicAlias0)
		case propMaximumQoS:
			p.MaximumQoS = d.flag(field)
		case propRetainAvailable:
			p.RetainAvailable = d.flag(field)
		case propUserProperty:
			k := d.str(field)
			v := d.str(field)
			p.UserProperties = append(p.UserProperties, UserProperty{Key: k, Value: v})
		case propMaximumPacketSize:
			v := d.u32(field)
			if d.err == nil && v == 0 {
				d.fail(field, errPropZero)
			}
			p.MaximumPacketSize = &v
		case propWildcardSubAvailable:
			p.WildcardSubAvailable = d.flag(field)
		case propSubIDAvailable:
			p.SubIDAvailable = d.flag(field)
		case propSharedSubAvailable:
			p.SharedSubAvailable = d.flag(field)
		}
	}
	if d.err == nil && p.AuthData != nil && p.AuthMethod == nil && ctx != ctxAny {
		d.fail("authentication data", errAuthData)
	}
}

// flag reads a byte property whose only values are 0 and 1.
func (d *decoder) flag(field string) *byte {
	v := d.u8(field)
	if d.err == nil && v > 1 {
		d.fail(field, errPropBool)
	}
	return &v
}

func (d *decoder) nonZero16(field string, zeroErr error) *uint16 {
	v := d.u16(field)
	if d.err == nil && v == 0 {
		d.fail(field, zeroErr)
	}
	return &v
}

// propNames are the specification's property names, for error messages.
var propNames = [64]string{
	propPayloadFormat:        "payload format indicator",
	propMessageExpiry:        "message expiry interval",
	propContentType:          "content type",
	propResponseTopic:        "response topic",
	propCorrelationData:      "correlation data",
	propSubscriptionID:       "subscription identifier",
	propSessionExpiry:        "session expiry interval",
	propAssignedClientID:     "assigned client identifier",
	propServerKeepAlive:      "server keep alive",
	propAuthMethod:           "authentication method",
	propAuthData:             "authentication data",
	propRequestProblemInfo:   "request problem information",
	propWillDelay:            "will delay interval",
	propRequestResponseInfo:  "request response information",
	propResponseInfo:         "response information",
	propServerReference:      "server reference",
	propReasonString:         "reason string",
	propReceiveMaximum:       "receive maximum",
	propTopicAliasMaximum:    "topic alias maximum",
	propTopicAlias:           "topic alias",
	propMaximumQoS:           "maximum qos",
	propRetainAvailable:      "retain available",
	propUserProperty:         "user property",
	propMaximumPacketSize:    "maximum packet size",
	propWildcardSubAvailable: "wildcard subscription available",
	propSubIDAvailable:       "subscription identifier available",
	propSharedSubAvailable:   "shared subscription available",
}
