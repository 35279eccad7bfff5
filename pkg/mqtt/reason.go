package mqtt

import (
	"errors"
	"fmt"
)

// ReasonCode is an MQTT 5 reason code. It implements error so that decode
// failures carry the code a server must answer with; use errors.As or
// errors.Is on wrapped errors. Several codes share a value (0x00 is Success,
// NormalDisconnection and GrantedQoS0); the packet decides the meaning.
type ReasonCode byte

// MQTT 5 reason codes (MQTT 5.0 section 2.4).
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWillMessage           ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUsernameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// Error returns the specification's name of the code, lower-cased so it
// reads well inside wrapped errors, e.g. "packet too large". It is a switch,
// not a table, because package-level errors wrap codes during package
// initialisation, before any table would be guaranteed to be filled.
func (rc ReasonCode) Error() string {
	switch rc {
	case Success:
		return "success"
	case GrantedQoS1:
		return "granted qos 1"
	case GrantedQoS2:
		return "granted qos 2"
	case DisconnectWithWillMessage:
		return "disconnect with will message"
	case NoMatchingSubscribers:
		return "no matching subscribers"
	case NoSubscriptionExisted:
		return "no subscription existed"
	case ContinueAuthentication:
		return "continue authentication"
	case ReAuthenticate:
		return "re-authenticate"
	case UnspecifiedError:
		return "unspecified error"
	case MalformedPacket:
		return "malformed packet"
	case ProtocolError:
		return "protocol error"
	case ImplementationSpecificError:
		return "implementation specific error"
	case UnsupportedProtocolVersion:
		return "unsupported protocol version"
	case ClientIdentifierNotValid:
		return "client identifier not valid"
	case BadUsernameOrPassword:
		return "bad user name or password"
	case NotAuthorized:
		return "not authorized"
	case ServerUnavailable:
		return "server unavailable"
	case ServerBusy:
		return "server busy"
	case Banned:
		return "banned"
	case ServerShuttingDown:
		return "server shutting down"
	case BadAuthenticationMethod:
		return "bad authentication method"
	case KeepAliveTimeout:
		return "keep alive timeout"
	case SessionTakenOver:
		return "session taken over"
	case TopicFilterInvalid:
		return "topic filter invalid"
	case TopicNameInvalid:
		return "topic name invalid"
	case PacketIdentifierInUse:
		return "packet identifier in use"
	case PacketIdentifierNotFound:
		return "packet identifier not found"
	case ReceiveMaximumExceeded:
		return "receive maximum exceeded"
	case TopicAliasInvalid:
		return "topic alias invalid"
	case PacketTooLarge:
		return "packet too large"
	case MessageRateTooHigh:
		return "message rate too high"
	case QuotaExceeded:
		return "quota exceeded"
	case AdministrativeAction:
		return "administrative action"
	case PayloadFormatInvalid:
		return "payload format invalid"
	case RetainNotSupported:
		return "retain not supported"
	case QoSNotSupported:
		return "qos not supported"
	case UseAnotherServer:
		return "use another server"
	case ServerMoved:
		return "server moved"
	case SharedSubscriptionsNotSupported:
		return "shared subscriptions not supported"
	case ConnectionRateExceeded:
		return "connection rate exceeded"
	case MaximumConnectTime:
		return "maximum connect time"
	case SubscriptionIdentifiersNotSupported:
		return "subscription identifiers not supported"
	case WildcardSubscriptionsNotSupported:
		return "wildcard subscriptions not supported"
	}
	return fmt.Sprintf("reason code 0x%02x", byte(rc))
}

// String is the same as Error, so codes print by name in logs.
func (rc ReasonCode) String() string { return rc.Error() }

// IsError reports whether the code signals a failure: by definition in
// MQTT 5 (section 2.4) that is every value of 0x80 or above.
func (rc ReasonCode) IsError() bool { return rc >= 0x80 }

// ReturnCode is an MQTT 3.1/3.1.1 CONNACK return code
// (MQTT 3.1.1 section 3.2.2.3).
type ReturnCode byte

// MQTT 3.1.1 CONNACK return codes.
const (
	Accepted                     ReturnCode = 0x00
	RefusedProtocolVersion       ReturnCode = 0x01
	RefusedIdentifierRejected    ReturnCode = 0x02
	RefusedServerUnavailable     ReturnCode = 0x03
	RefusedBadUsernameOrPassword ReturnCode = 0x04
	RefusedNotAuthorized         ReturnCode = 0x05
)

// ReturnCodeFor maps an MQTT 5 CONNACK reason code to the closest 3.1.1
// return code, so that connection code decides refusals once, in MQTT 5
// terms. Banned and BadAuthenticationMethod become "not authorized" (the
// client must not simply retry); other failures without a 3.1.1 equivalent
// become "server unavailable".
func ReturnCodeFor(rc ReasonCode) ReturnCode {
	switch rc {
	case Success:
		return Accepted
	case UnsupportedProtocolVersion:
		return RefusedProtocolVersion
	case ClientIdentifierNotValid:
		return RefusedIdentifierRejected
	case BadUsernameOrPassword:
		return RefusedBadUsernameOrPassword
	case NotAuthorized, Banned, BadAuthenticationMethod:
		return RefusedNotAuthorized
	default:
		return RefusedServerUnavailable
	}
}

// ReasonCode maps a 3.1.1 return code back to the MQTT 5 code that
// ReturnCodeFor maps to it; unknown values are reported as ok=false.
func (c ReturnCode) ReasonCode() (rc ReasonCode, ok bool) {
	switch c {
	case Accepted:
		return Success, true
	case RefusedProtocolVersion:
		return UnsupportedProtocolVersion, true
	case RefusedIdentifierRejected:
		return ClientIdentifierNotValid, true
	case RefusedServerUnavailable:
		return ServerUnavailable, true
	case RefusedBadUsernameOrPassword:
		return BadUsernameOrPassword, true
	case RefusedNotAuthorized:
		return NotAuthorized, true
	}
	return UnspecifiedError, false
}

// ReasonCodeOf extracts the ReasonCode an error wraps, to choose the CONNACK
// or DISCONNECT code after a failed read; ok is false for I/O errors.
func ReasonCodeOf(err error) (rc ReasonCode, ok bool) {
	if errors.As(err, &rc) {
		return rc, true
	}
	return 0, false
}
