package mqtt

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

// AppendProperties appends the encoded property block of p to dst, without
// the leading length varint. Other parts store PUBLISH properties in record
// headers in this form.
func AppendProperties(dst []byte, p *Properties) []byte {
	// TODO
	return dst
}

// DecodeProperties decodes a property block without its length prefix, as
// written by AppendProperties. It checks identifiers, value types and
// duplicates but not which packet a property belongs to.
func DecodeProperties(b []byte) (*Properties, error) {
	// TODO
	return &Properties{}, nil
}
