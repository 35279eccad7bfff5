package mqtt

import (
	"fmt"
	"strings"
)

var (
	errReservedType  = fmt.Errorf("reserved packet type: %w", MalformedPacket)
	errFlags         = fmt.Errorf("reserved fixed header flags [MQTT-2.1.3-1]: %w", MalformedPacket)
	errNotConnect    = fmt.Errorf("first packet is not connect [MQTT-3.1.0-1]: %w", ProtocolError)
	errSecondConnect = fmt.Errorf("second connect [MQTT-3.1.0-2]: %w", ProtocolError)
	errProtocol      = fmt.Errorf("protocol name or level: %w", UnsupportedProtocolVersion)
	errConnReserved  = fmt.Errorf("reserved connect flag [MQTT-3.1.2-3]: %w", MalformedPacket)
	errWillFlags     = fmt.Errorf("will qos or retain without will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13]: %w", MalformedPacket)
	errWillQoS3      = fmt.Errorf("will qos 3 [MQTT-3.1.2-12]: %w", MalformedPacket)
	errAckFlags      = fmt.Errorf("reserved connect acknowledge flags [MQTT-3.2.2-1]: %w", MalformedPacket)
	errReason        = fmt.Errorf("reason code not allowed in this packet: %w", MalformedPacket)
	errTopicWildcard = fmt.Errorf("wildcard in topic name [MQTT-3.3.2-2]: %w", TopicNameInvalid)
	errTopicEmpty    = fmt.Errorf("empty topic name [MQTT-4.7.3-1]: %w", TopicNameInvalid)
	errTopicNoAlias  = fmt.Errorf("empty topic name without topic alias: %w", ProtocolError)
	errSubReserved   = fmt.Errorf("reserved subscription option bits [MQTT-3.8.3-5]: %w", MalformedPacket)
	errSubQoS3       = fmt.Errorf("subscription qos 3: %w", ProtocolError)
	errSubRH3        = fmt.Errorf("retain handling 3: %w", ProtocolError)
	errSubOpts311    = fmt.Errorf("subscription options [MQTT-3-8.3-4]: %w", MalformedPacket)
	errNoUnsub       = fmt.Errorf("no topic filters [MQTT-3.10.3-2]: %w", MalformedPacket)
)

// reasonAllowed lists per packet type the reason codes MQTT 5 defines for
// it (MQTT 5.0 section 2.4 and the Reason Code tables of each packet).
var reasonAllowed = func() (t [256]uint16) {
	allow := func(pt PacketType, codes ...ReasonCode) {
		for _, c := range codes {
			t[c] |= 1 << pt
		}
	}
	allow(CONNACK, Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
		UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUsernameOrPassword, NotAuthorized,
		ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge,
		QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
		ServerMoved, ConnectionRateExceeded)
	for _, pt := range []PacketType{PUBACK, PUBREC} {
		allow(pt, Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
			NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid)
	}
	allow(PUBREL, Success, PacketIdentifierNotFound)
	allow(PUBCOMP, Success, PacketIdentifierNotFound)
	allow(SUBACK, GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded,
		SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	allow(UNSUBACK, Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	allow(DISCONNECT, NormalDisconnection, DisconnectWithWillMessage, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded,
		TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded, AdministrativeAction,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		SharedSubscriptionsNotSupported, ConnectionRateExceeded, MaximumConnectTime,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	allow(AUTH, Success, ContinueAuthentication, ReAuthenticate)
	return t
}()

// reason reads a reason code and checks that the packet may carry it.
func (d *decoder) reason(pt PacketType) ReasonCode {
	rc := ReasonCode(d.u8("reason code"))
	if d.err == nil && reasonAllowed[rc]&(1<<pt) == 0 {
		d.fail(fmt.Sprintf("reason code 0x%02X", byte(rc)), errReason)
	}
	return rc
}

// fixedFlags is the required low nibble per type [MQTT-2.1.3-1]; PUBLISH
// (type 3) uses its flags and is not checked here.
var fixedFlags = [16]byte{PUBREL: 0x02, SUBSCRIBE: 0x02, UNSUBSCRIBE: 0x02}

// decodePacket decodes one packet whose fixed header byte is hdr and whose
// body (everything after the remaining length) is body. With v 0 only
// CONNECT is accepted. owned tells whether body may be retained by the
// result.
func decodePacket(hdr byte, body []byte, v Version, owned bool) (Packet, error) {
	pt := PacketType(hdr >> 4)
	flags := hdr & 0x0f
	if pt == 0 || (pt == AUTH && v != 0 && v < V5) {
		return nil, fmt.Errorf("read packet type %d: %w", pt, errReservedType)
	}
	if v == 0 && pt != CONNECT {
		return nil, fmt.Errorf("read %s: %w", pt, errNotConnect)
	}
	if v != 0 && pt == CONNECT {
		return nil, fmt.Errorf("read %s: %w", pt, errSecondConnect)
	}
	if pt != PUBLISH && flags != fixedFlags[pt] {
		return nil, fmt.Errorf("read %s: %w", pt, errFlags)
	}
	d := decoder{b: body, owned: owned}
	var p Packet
	switch pt {
	case CONNECT:
		p = d.connect()
	case CONNACK:
		p = d.connack(v)
	case PUBLISH:
		p = d.publish(flags, v)
	case PUBACK:
		a := new(Puback)
		a.PacketID, a.ReasonCode = d.ack(PUBACK, &a.Properties, v)
		p = a
	case PUBREC:
		a := new(Pubrec)
		a.PacketID, a.ReasonCode = d.ack(PUBREC, &a.Properties, v)
		p = a
	case PUBREL:
		a := new(Pubrel)
		a.PacketID, a.ReasonCode = d.ack(PUBREL, &a.Properties, v)
		p = a
	case PUBCOMP:
		a := new(Pubcomp)
		a.PacketID, a.ReasonCode = d.ack(PUBCOMP, &a.Properties, v)
		p = a
	case SUBSCRIBE:
		p = d.subscribe(v)
	case SUBACK:
		p = d.suback(v)
	case UNSUBSCRIBE:
		p = d.unsubscribe(v)
	case UNSUBACK:
		p = d.unsuback(v)
	case PINGREQ:
		d.end("pingreq")
		p = &Pingreq{}
	case PINGRESP:
		d.end("pingresp")
		p = &Pingresp{}
	case DISCONNECT:
		dc := new(Disconnect)
		dc.ReasonCode = d.short(DISCONNECT, &dc.Properties, v)
		p = dc
	case AUTH:
		a := new(Auth)
		a.ReasonCode = d.short(AUTH, &a.Properties, v)
		p = a
	}
	if d.err != nil {
		return nil, fmt.Errorf("read %s: %w", pt, d.err)
	}
	return p, nil
}

// connect decodes CONNECT, whose own protocol level decides the rest of its
// wire form.
func (d *decoder) connect() *Connect {
	c := new(Connect)
	c.ProtocolName = d.str("protocol name")
	c.Version = Version(d.u8("protocol level"))
	if d.err != nil {
		return nil
	}
	// [MQTT-3.1.2-1] [MQTT-3.1.2-2]: unknown names or levels are answered
	// with CONNACK 0x01 (3.1.1) / 0x84 (5.0), so they get their own code.
	switch {
	case c.ProtocolName == "MQTT" && (c.Version == V311 || c.Version == V5):
	case c.ProtocolName == "MQIsdp" && c.Version == V31:
	default:
		d.fail(fmt.Sprintf("%q level %d", c.ProtocolName, c.Version), errProtocol)
		return nil
	}
	v := c.Version
	flags := d.u8("connect flags")
	if d.err == nil {
		switch {
		case flags&0x01 != 0:
			d.fail("connect flags", errConnReserved)
		case flags&0x04 == 0 && flags&0x38 != 0:
			d.fail("connect flags", errWillFlags)
		case flags>>3&0x03 == 3:
			d.fail("connect flags", errWillQoS3)
		case v < V5 && flags&0x40 != 0 && flags&0x80 == 0:
			d.fail("connect flags", errPassNoUser)
		}
	}
	c.CleanStart = flags&0x02 != 0
	c.KeepAlive = d.u16("keep alive")
	if v >= V5 {
		d.properties(&c.Properties, uint8(CONNECT))
	}
	c.ClientID = d.str("client identifier")
	if flags&0x04 != 0 {
		w := &Will{QoS: flags >> 3 & 0x03, Retain: flags&0x20 != 0}
		if v >= V5 {
			d.properties(&w.Properties, ctxWill)
		}
		w.Topic = d.str("will topic")
		if d.err == nil && strings.ContainsAny(w.Topic, "+#") {
			d.fail("will topic", errTopicWildcard)
		}
		w.Payload = d.binary("will payload")
		c.Will = w
	}
	if flags&0x80 != 0 {
		c.UsernameFlag = true
		c.Username = d.str("user name")
	}
	if flags&0x40 != 0 {
		c.PasswordFlag = true
		c.Password = d.binary("password")
	}
	d.end("connect")
	return c
}

func (d *decoder) connack(v Version) *Connack {
	c := new(Connack)
	flags := d.u8("acknowledge flags")
	if v >= V311 {
		if d.err == nil && flags&0xfe != 0 {
			d.fail("acknowledge flags", errAckFlags)
		}
		c.SessionPresent = flags&0x01 != 0
	}
	if v < V5 {
		code := ReturnCode(d.u8("return code"))
		rc, ok := code.ReasonCode()
		if d.err == nil && !ok {
			d.fail(fmt.Sprintf("return code 0x%02X", byte(code)), errReason)
		}
		c.ReasonCode = rc
	} else {
		c.ReasonCode = d.reason(CONNACK)
		d.properties(&c.Properties, uint8(CONNACK))
	}
	d.end("connack")
	return c
}

func (d *decoder) publish(flags byte, v Version) *Publish {
	p := &Publish{Dup: flags&0x08 != 0, QoS: flags >> 1 & 0x03, Retain: flags&0x01 != 0}
	if p.QoS == 3 {
		d.fail("flags", errQoS)
		return nil
	}
	if p.Dup && p.QoS == 0 {
		d.fail("flags", errDupQoS0)
		return nil
	}
	p.Topic = d.str("topic")
	if d.err == nil && strings.ContainsAny(p.Topic, "+#") {
		d.fail("topic", errTopicWildcard)
	}
	if p.QoS > 0 {
		p.PacketID = d.u16("packet identifier")
		if d.err == nil && p.PacketID == 0 {
			d.fail("packet identifier", errPacketIDZero)
		}
	}
	if v >= V5 {
		d.properties(&p.Properties, uint8(PUBLISH))
	}
	if d.err == nil && p.Topic == "" {
		if v < V5 {
			d.fail("topic", errTopicEmpty)
		} else if p.Properties.TopicAlias == nil {
			d.fail("topic", errTopicNoAlias)
		}
	}
	p.Payload = d.rest()
	return p
}

// ack decodes PUBACK, PUBREC, PUBREL and PUBCOMP. MQTT 5 allows leaving
// out the Reason Code (meaning Success) and the Property Length (meaning
// none) at the end of the packet.
func (d *decoder) ack(pt PacketType, props *Properties, v Version) (uint16, ReasonCode) {
	id := d.u16("packet identifier")
	var rc ReasonCode
	if v >= V5 && d.err == nil && d.left() > 0 {
		rc = d.reason(pt)
		if d.err == nil && d.left() > 0 {
			d.properties(props, uint8(pt))
		}
	}
	d.end(pt.String())
	return id, rc
}

// short decodes DISCONNECT and AUTH: a remaining length of 0 means Success
// with no properties, and a Property Length left out means none.
func (d *decoder) short(pt PacketType, props *Properties, v Version) ReasonCode {
	var rc ReasonCode
	if v >= V5 && d.left() > 0 {
		rc = d.reason(pt)
		if d.err == nil && d.left() > 0 {
			d.properties(props, uint8(pt))
		}
	}
	d.end(pt.String())
	return rc
}

func (d *decoder) subscribe(v Version) *Subscribe {
	s := new(Subscribe)
	s.PacketID = d.u16("packet identifier")
	if d.err == nil && s.PacketID == 0 {
		d.fail("packet identifier", errPacketIDZero)
	}
	if v >= V5 {
		d.properties(&s.Properties, uint8(SUBSCRIBE))
	}
	for d.err == nil && d.left() > 0 {
		var sub Subscription
		sub.Filter = d.str("topic filter")
		opts := d.u8("subscription options")
		if d.err != nil {
			break
		}
		sub.QoS = opts & 0x03
		if v < V5 {
			if opts&0xfc != 0 || sub.QoS == 3 {
				d.fail("subscription options", errSubOpts311)
			}
		} else {
			sub.NoLocal = opts&0x04 != 0
			sub.RetainAsPublished = opts&0x08 != 0
			sub.RetainHandling = opts >> 4 & 0x03
			switch {
			case opts&0xc0 != 0:
				d.fail("subscription options", errSubReserved)
			case sub.QoS == 3:
				d.fail("subscription options", errSubQoS3)
			case sub.RetainHandling == 3:
				d.fail("subscription options", errSubRH3)
			}
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	if d.err == nil && len(s.Subscriptions) == 0 {
		d.fail("payload", errNoFilters)
	}
	return s
}

func (d *decoder) suback(v Version) *Suback {
	s := new(Suback)
	s.PacketID = d.u16("packet identifier")
	if v >= V5 {
		d.properties(&s.Properties, uint8(SUBACK))
	}
	if d.err == nil && d.left() == 0 {
		d.fail("payload", errNoCodes)
	}
	for d.err == nil && d.left() > 0 {
		var rc ReasonCode
		if v >= V5 {
			rc = d.reason(SUBACK)
		} else {
			// 3.1.1 return codes: 0x00, 0x01, 0x02 or 0x80 [MQTT-3.9.3-2].
			rc = ReasonCode(d.u8("return code"))
			if rc > GrantedQoS2 && rc != UnspecifiedError {
				d.fail(fmt.Sprintf("return code 0x%02X", byte(rc)), errReason)
			}
		}
		s.ReasonCodes = append(s.ReasonCodes, rc)
	}
	return s
}

func (d *decoder) unsubscribe(v Version) *Unsubscribe {
	u := new(Unsubscribe)
	u.PacketID = d.u16("packet identifier")
	if d.err == nil && u.PacketID == 0 {
		d.fail("packet identifier", errPacketIDZero)
	}
	if v >= V5 {
		d.properties(&u.Properties, uint8(UNSUBSCRIBE))
	}
	for d.err == nil && d.left() > 0 {
		u.Filters = append(u.Filters, d.str("topic filter"))
	}
	if d.err == nil && len(u.Filters) == 0 {
		d.fail("payload", errNoUnsub)
	}
	return u
}

func (d *decoder) unsuback(v Version) *Unsuback {
	u := new(Unsuback)
	u.PacketID = d.u16("packet identifier")
	if v < V5 {
		d.end("unsuback")
		return u
	}
	d.properties(&u.Properties, uint8(UNSUBACK))
	if d.err == nil && d.left() == 0 {
		d.fail("payload", errNoCodes)
	}
	for d.err == nil && d.left() > 0 {
		u.ReasonCodes = append(u.ReasonCodes, d.reason(UNSUBACK))
	}
	return u
}
