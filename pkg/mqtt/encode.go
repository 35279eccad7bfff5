package mqtt

import (
	"fmt"
	"io"
)

var (
	errWillQoS     = fmt.Errorf("will qos above 2: %w", MalformedPacket)
	errPublishQoS  = fmt.Errorf("qos above 2: %w", MalformedPacket)
	errDupQoS0     = fmt.Errorf("dup set on qos 0 [MQTT-3.3.1-2]: %w", MalformedPacket)
	errNoFilters   = fmt.Errorf("no topic filters [MQTT-3.8.3-3]: %w", MalformedPacket)
	errNoCodes     = fmt.Errorf("no reason codes: %w", MalformedPacket)
	errSubOptions  = fmt.Errorf("invalid subscription options: %w", MalformedPacket)
	errPassNoUser  = fmt.Errorf("password without user name [MQTT-3.1.2-22]: %w", MalformedPacket)
	errAuthVersion = fmt.Errorf("auth exists only in mqtt 5: %w", ProtocolError)
)

// AppendPacket appends the wire form of p for protocol version v to dst.
// For *Connect, v may be 0 to use the packet's own Version. Fields that do
// not exist in v (properties and reason codes before 5.0) are left out.
// Errors wrap a ReasonCode: UnsupportedProtocolVersion for an unknown v,
// ProtocolError for a packet or property that v or the packet does not allow
// (AUTH before 5.0), PacketTooLarge when the remaining length exceeds the
// protocol limit, MalformedPacket for values that cannot be represented. On
// error dst is returned unchanged.
func AppendPacket(dst []byte, p Packet, v Version) ([]byte, error) {
	if c, ok := p.(*Connect); ok && v == 0 {
		v = c.Version
	}
	if !v.valid() {
		return dst, fmt.Errorf("encode %s: version %d: %w", p.Type(), v, UnsupportedProtocolVersion)
	}
	if err := p.check(v); err != nil {
		return dst, fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	n := p.size(v)
	if n > MaxRemainingLength {
		return dst, fmt.Errorf("encode %s: remaining length %d: %w", p.Type(), n, PacketTooLarge)
	}
	dst = append(dst, byte(p.Type())<<4|p.flags())
	dst = appendVarint(dst, uint32(n))
	return p.appendBody(dst, v), nil
}

// PacketSize returns the number of bytes AppendPacket would append, for
// checks against a peer's Maximum Packet Size. It does not validate p.
func PacketSize(p Packet, v Version) int {
	if c, ok := p.(*Connect); ok && v == 0 {
		v = c.Version
	}
	n := p.size(v)
	return 1 + varintSize(n) + n
}

// WritePacket encodes p into a fresh buffer and writes it with one Write.
// Connection writers that batch should use AppendPacket with their own
// buffer instead.
func WritePacket(w io.Writer, p Packet, v Version) error {
	b, err := AppendPacket(make([]byte, 0, PacketSize(p, v)), p, v)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", p.Type(), err)
	}
	return nil
}

// propsSize is the length of a packet's property block with its prefix, or
// 0 before MQTT 5.
func propsSize(p *Properties, v Version) int {
	if v < V5 {
		return 0
	}
	n := propertiesSize(p)
	return varintSize(n) + n
}

func appendProps(dst []byte, p *Properties, v Version) []byte {
	if v < V5 {
		return dst
	}
	return appendPropertyBlock(dst, p, propertiesSize(p))
}

// checkProps validates properties only where they are written.
func checkProps(p *Properties, ctx uint8, v Version) error {
	if v < V5 {
		return nil
	}
	return checkProperties(p, ctx)
}

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// --- CONNECT ---

func (c *Connect) name(v Version) string {
	if c.ProtocolName != "" {
		return c.ProtocolName
	}
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

func (c *Connect) check(v Version) error {
	if err := checkLen("protocol name", len(c.ProtocolName)); err != nil {
		return err
	}
	if err := checkLen("client identifier", len(c.ClientID)); err != nil {
		return err
	}
	if err := checkLen("user name", len(c.Username)); err != nil {
		return err
	}
	if err := checkLen("password", len(c.Password)); err != nil {
		return err
	}
	if v < V5 && c.PasswordFlag && !c.UsernameFlag {
		return errPassNoUser
	}
	if w := c.Will; w != nil {
		if w.QoS > 2 {
			return errWillQoS
		}
		if err := checkLen("will topic", len(w.Topic)); err != nil {
			return err
		}
		if err := checkLen("will payload", len(w.Payload)); err != nil {
			return err
		}
		if err := checkProps(&w.Properties, ctxWill, v); err != nil {
			return err
		}
	}
	return checkProps(&c.Properties, uint8(CONNECT), v)
}

func (c *Connect) flags() byte { return 0 }

func (c *Connect) size(v Version) int {
	n := 2 + len(c.name(v)) + 1 + 1 + 2 + propsSize(&c.Properties, v) + 2 + len(c.ClientID)
	if w := c.Will; w != nil {
		n += propsSize(&w.Properties, v) + 2 + len(w.Topic) + 2 + len(w.Payload)
	}
	if c.UsernameFlag {
		n += 2 + len(c.Username)
	}
	if c.PasswordFlag {
		n += 2 + len(c.Password)
	}
	return n
}

func (c *Connect) appendBody(dst []byte, v Version) []byte {
	dst = appendString(dst, c.name(v))
	dst = append(dst, byte(v))
	flags := b2i(c.CleanStart) << 1
	if w := c.Will; w != nil {
		flags |= 1<<2 | w.QoS<<3 | b2i(w.Retain)<<5
	}
	flags |= b2i(c.PasswordFlag)<<6 | b2i(c.UsernameFlag)<<7
	dst = append(dst, flags)
	dst = appendUint16(dst, c.KeepAlive)
	dst = appendProps(dst, &c.Properties, v)
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		dst = appendProps(dst, &w.Properties, v)
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if c.UsernameFlag {
		dst = appendString(dst, c.Username)
	}
	if c.PasswordFlag {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}

// --- CONNACK ---

func (c *Connack) check(v Version) error { return checkProps(&c.Properties, uint8(CONNACK), v) }
func (c *Connack) flags() byte           { return 0 }
func (c *Connack) size(v Version) int    { return 2 + propsSize(&c.Properties, v) }

func (c *Connack) appendBody(dst []byte, v Version) []byte {
	// 3.1 has no Session Present flag: the byte is reserved.
	dst = append(dst, b2i(c.SessionPresent && v >= V311))
	if v < V5 {
		return append(dst, byte(ReturnCodeFor(c.ReasonCode)))
	}
	dst = append(dst, byte(c.ReasonCode))
	return appendProps(dst, &c.Properties, v)
}

// --- PUBLISH ---

func (p *Publish) check(v Version) error {
	if p.QoS > 2 {
		return errPublishQoS
	}
	if p.QoS == 0 && p.Dup {
		return errDupQoS0
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return errPacketIDZero
	}
	if err := checkLen("topic", len(p.Topic)); err != nil {
		return err
	}
	if p.Topic == "" {
		// Without a Topic Alias (MQTT 5 only) nobody can route it.
		if v < V5 {
			return errTopicEmpty
		}
		if p.Properties.TopicAlias == nil {
			return errTopicNoAlias
		}
	}
	return checkProps(&p.Properties, uint8(PUBLISH), v)
}

func (p *Publish) flags() byte { return b2i(p.Dup)<<3 | p.QoS<<1 | b2i(p.Retain) }

func (p *Publish) size(v Version) int {
	n := 2 + len(p.Topic) + propsSize(&p.Properties, v) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	return n
}

func (p *Publish) appendBody(dst []byte, v Version) []byte {
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	dst = appendProps(dst, &p.Properties, v)
	return append(dst, p.Payload...)
}

// --- PUBACK, PUBREC, PUBREL, PUBCOMP ---
//
// In MQTT 5 the Reason Code and Property Length may be omitted when the
// code is Success and there are no properties (remaining length 2), and the
// Property Length when there are none (remaining length 3).

func ackSize(rc ReasonCode, p *Properties, v Version) int {
	if v < V5 {
		return 2
	}
	n := propertiesSize(p)
	switch {
	case n > 0:
		return 3 + varintSize(n) + n
	case rc != Success:
		return 3
	}
	return 2
}

func appendAck(dst []byte, id uint16, rc ReasonCode, p *Properties, v Version) []byte {
	dst = appendUint16(dst, id)
	if v < V5 {
		return dst
	}
	n := propertiesSize(p)
	switch {
	case n > 0:
		return appendPropertyBlock(append(dst, byte(rc)), p, n)
	case rc != Success:
		return append(dst, byte(rc))
	}
	return dst
}

func (p *Puback) check(v Version) error { return checkProps(&p.Properties, uint8(PUBACK), v) }
func (p *Puback) flags() byte           { return 0 }
func (p *Puback) size(v Version) int    { return ackSize(p.ReasonCode, &p.Properties, v) }
func (p *Puback) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, p.PacketID, p.ReasonCode, &p.Properties, v)
}

func (p *Pubrec) check(v Version) error { return checkProps(&p.Properties, uint8(PUBREC), v) }
func (p *Pubrec) flags() byte           { return 0 }
func (p *Pubrec) size(v Version) int    { return ackSize(p.ReasonCode, &p.Properties, v) }
func (p *Pubrec) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, p.PacketID, p.ReasonCode, &p.Properties, v)
}

func (p *Pubrel) check(v Version) error { return checkProps(&p.Properties, uint8(PUBREL), v) }

// flags of PUBREL are fixed to 0010 [MQTT-3.6.1-1].
func (p *Pubrel) flags() byte        { return 0x02 }
func (p *Pubrel) size(v Version) int { return ackSize(p.ReasonCode, &p.Properties, v) }
func (p *Pubrel) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, p.PacketID, p.ReasonCode, &p.Properties, v)
}

func (p *Pubcomp) check(v Version) error { return checkProps(&p.Properties, uint8(PUBCOMP), v) }
func (p *Pubcomp) flags() byte           { return 0 }
func (p *Pubcomp) size(v Version) int    { return ackSize(p.ReasonCode, &p.Properties, v) }
func (p *Pubcomp) appendBody(dst []byte, v Version) []byte {
	return appendAck(dst, p.PacketID, p.ReasonCode, &p.Properties, v)
}

// --- SUBSCRIBE, SUBACK ---

func (s *Subscribe) check(v Version) error {
	if s.PacketID == 0 {
		return errPacketIDZero
	}
	if len(s.Subscriptions) == 0 {
		return errNoFilters
	}
	for _, sub := range s.Subscriptions {
		if sub.QoS > 2 || sub.RetainHandling > 2 {
			return errSubOptions
		}
		if err := checkLen("topic filter", len(sub.Filter)); err != nil {
			return err
		}
	}
	return checkProps(&s.Properties, uint8(SUBSCRIBE), v)
}

// flags of SUBSCRIBE are fixed to 0010 [MQTT-3.8.1-1].
func (s *Subscribe) flags() byte { return 0x02 }

func (s *Subscribe) size(v Version) int {
	n := 2 + propsSize(&s.Properties, v)
	for _, sub := range s.Subscriptions {
		n += 3 + len(sub.Filter)
	}
	return n
}

func (s *Subscribe) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, s.PacketID)
	dst = appendProps(dst, &s.Properties, v)
	for _, sub := range s.Subscriptions {
		dst = appendString(dst, sub.Filter)
		opts := sub.QoS
		if v >= V5 {
			opts |= b2i(sub.NoLocal)<<2 | b2i(sub.RetainAsPublished)<<3 | sub.RetainHandling<<4
		}
		dst = append(dst, opts)
	}
	return dst
}

func (s *Suback) check(v Version) error {
	if len(s.ReasonCodes) == 0 {
		return errNoCodes
	}
	if v < V5 {
		for _, rc := range s.ReasonCodes {
			if rc > GrantedQoS2 && rc < UnspecifiedError {
				return fmt.Errorf("suback code %s has no 3.1.1 form: %w", rc, MalformedPacket)
			}
		}
	}
	return checkProps(&s.Properties, uint8(SUBACK), v)
}

func (s *Suback) flags() byte        { return 0 }
func (s *Suback) size(v Version) int { return 2 + propsSize(&s.Properties, v) + len(s.ReasonCodes) }

func (s *Suback) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, s.PacketID)
	dst = appendProps(dst, &s.Properties, v)
	for _, rc := range s.ReasonCodes {
		if v < V5 && rc >= UnspecifiedError {
			rc = UnspecifiedError // 3.1.1 has the single failure code 0x80
		}
		dst = append(dst, byte(rc))
	}
	return dst
}

// --- UNSUBSCRIBE, UNSUBACK ---

func (u *Unsubscribe) check(v Version) error {
	if u.PacketID == 0 {
		return errPacketIDZero
	}
	if len(u.Filters) == 0 {
		return errNoFilters
	}
	for _, f := range u.Filters {
		if err := checkLen("topic filter", len(f)); err != nil {
			return err
		}
	}
	return checkProps(&u.Properties, uint8(UNSUBSCRIBE), v)
}

// flags of UNSUBSCRIBE are fixed to 0010 [MQTT-3.10.1-1].
func (u *Unsubscribe) flags() byte { return 0x02 }

func (u *Unsubscribe) size(v Version) int {
	n := 2 + propsSize(&u.Properties, v)
	for _, f := range u.Filters {
		n += 2 + len(f)
	}
	return n
}

func (u *Unsubscribe) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, u.PacketID)
	dst = appendProps(dst, &u.Properties, v)
	for _, f := range u.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func (u *Unsuback) check(v Version) error {
	if v >= V5 && len(u.ReasonCodes) == 0 {
		return errNoCodes
	}
	return checkProps(&u.Properties, uint8(UNSUBACK), v)
}

func (u *Unsuback) flags() byte { return 0 }

func (u *Unsuback) size(v Version) int {
	if v < V5 {
		return 2
	}
	return 2 + propsSize(&u.Properties, v) + len(u.ReasonCodes)
}

func (u *Unsuback) appendBody(dst []byte, v Version) []byte {
	dst = appendUint16(dst, u.PacketID)
	if v < V5 {
		return dst
	}
	dst = appendProps(dst, &u.Properties, v)
	for _, rc := range u.ReasonCodes {
		dst = append(dst, byte(rc))
	}
	return dst
}

// --- PINGREQ, PINGRESP ---

func (*Pingreq) check(Version) error                     { return nil }
func (*Pingreq) flags() byte                             { return 0 }
func (*Pingreq) size(Version) int                        { return 0 }
func (*Pingreq) appendBody(dst []byte, _ Version) []byte { return dst }

func (*Pingresp) check(Version) error                     { return nil }
func (*Pingresp) flags() byte                             { return 0 }
func (*Pingresp) size(Version) int                        { return 0 }
func (*Pingresp) appendBody(dst []byte, _ Version) []byte { return dst }

// --- DISCONNECT, AUTH ---
//
// Both omit everything when the code is 0x00 and there are no properties
// (remaining length 0).

func shortSize(rc ReasonCode, p *Properties, v Version, withPropLen bool) int {
	if v < V5 {
		return 0
	}
	n := propertiesSize(p)
	switch {
	case n > 0 || (rc != Success && withPropLen):
		return 1 + varintSize(n) + n
	case rc != Success:
		return 1
	}
	return 0
}

func appendShort(dst []byte, rc ReasonCode, p *Properties, v Version, withPropLen bool) []byte {
	if v < V5 {
		return dst
	}
	n := propertiesSize(p)
	switch {
	case n > 0 || (rc != Success && withPropLen):
		return appendPropertyBlock(append(dst, byte(rc)), p, n)
	case rc != Success:
		return append(dst, byte(rc))
	}
	return dst
}

func (d *Disconnect) check(v Version) error { return checkProps(&d.Properties, uint8(DISCONNECT), v) }
func (d *Disconnect) flags() byte           { return 0 }
func (d *Disconnect) size(v Version) int    { return shortSize(d.ReasonCode, &d.Properties, v, false) }
func (d *Disconnect) appendBody(dst []byte, v Version) []byte {
	return appendShort(dst, d.ReasonCode, &d.Properties, v, false)
}

func (a *Auth) check(v Version) error {
	if v < V5 {
		return errAuthVersion
	}
	return checkProps(&a.Properties, uint8(AUTH), v)
}

func (a *Auth) flags() byte { return 0 }

// AUTH, unlike DISCONNECT, has no rule that lets the Property Length go
// without the Reason Code, so it is always written with the code.
func (a *Auth) size(v Version) int { return shortSize(a.ReasonCode, &a.Properties, v, true) }
func (a *Auth) appendBody(dst []byte, v Version) []byte {
	return appendShort(dst, a.ReasonCode, &a.Properties, v, true)
}
