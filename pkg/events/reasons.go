package events

// DisconnectReason says why a connection ended (mqtt.client.disconnected).
type DisconnectReason string

// Disconnect reasons. Consumers treat values they do not know as "other":
// new values may be added within v1.
const (
	DisconnectNormal           DisconnectReason = "normal"
	DisconnectTakenOver        DisconnectReason = "takenover"
	DisconnectDiscarded        DisconnectReason = "discarded"
	DisconnectKeepAliveTimeout DisconnectReason = "keepalive_timeout"
	DisconnectClosed           DisconnectReason = "closed"
	DisconnectProtocolError    DisconnectReason = "protocol_error"
	DisconnectServerShutdown   DisconnectReason = "server_shutdown"
	DisconnectSlowConsumer     DisconnectReason = "slow_consumer"
	DisconnectNodeDown         DisconnectReason = "node_down"
	DisconnectNotAuthorized    DisconnectReason = "not_authorized"
	DisconnectPacketTooLarge   DisconnectReason = "packet_too_large"
	DisconnectQuotaExceeded    DisconnectReason = "quota_exceeded"
	DisconnectAdministrative   DisconnectReason = "administrative"
)

// DisconnectReasons describes every DisconnectReason; the schema's
// descriptions must say the same (checked by a test).
var DisconnectReasons = map[DisconnectReason]string{
	DisconnectNormal:           "The client sent DISCONNECT (MQTT 5 reason code below 0x80).",
	DisconnectTakenOver:        "A newer connection with the same ClientID resumed this persistent session (MQTT 5: the server sent DISCONNECT 0x8E).",
	DisconnectDiscarded:        "A newer connection with the same ClientID replaced this clean session, or discarded this session with Clean Start (MQTT 5: the server sent DISCONNECT 0x8E).",
	DisconnectKeepAliveTimeout: "Nothing was received for 1.5 times the keep alive (MQTT 5: DISCONNECT 0x8D).",
	DisconnectClosed:           "The network connection closed or failed without a DISCONNECT packet.",
	DisconnectProtocolError:    "The client broke the protocol: malformed packet or forbidden sequence (MQTT 5: DISCONNECT 0x81 or 0x82).",
	DisconnectServerShutdown:   "The frontend node was shutting down and closed the connection (MQTT 5: DISCONNECT 0x8B).",
	DisconnectSlowConsumer:     "The client did not read fast enough and its outbound queue overflowed.",
	DisconnectNodeDown:         "The frontend node serving the connection stopped without closing it; the session service announced the end on its behalf.",
	DisconnectNotAuthorized:    "The client did something it is not authorised to do (MQTT 5: DISCONNECT 0x87).",
	DisconnectPacketTooLarge:   "The client sent a packet larger than the maximum packet size (MQTT 5: DISCONNECT 0x95).",
	DisconnectQuotaExceeded:    "The client exceeded a limit such as Receive Maximum or a rate quota (MQTT 5: DISCONNECT 0x93 or 0x97).",
	DisconnectAdministrative:   "An operator ended the connection or discarded its session through the admin API (MQTT 5: the server sent DISCONNECT 0x98).",
}

// TerminateReason says why a session ended (mqtt.session.terminated). The
// set follows the session semantics of the product specification.
type TerminateReason string

// Terminate reasons. Consumers treat values they do not know as "other".
const (
	TerminateNormal    TerminateReason = "normal"
	TerminateConflict  TerminateReason = "conflict"
	TerminateExpired   TerminateReason = "expired"
	TerminateDiscarded TerminateReason = "discarded"
	// TerminateAdministrative: an operator acted through the admin API.
	TerminateAdministrative TerminateReason = "administrative"
	TerminateNodeDown       TerminateReason = "node_down"
)

// TerminateReasons describes every TerminateReason; the schema's
// descriptions must say the same (checked by a test).
var TerminateReasons = map[TerminateReason]string{
	TerminateNormal:         "The connection of a session that ends with its connection (CleanSession=1 or expiry 0) ended.",
	TerminateConflict:       "A newer connection with the same ClientID replaced this clean session while it was connected.",
	TerminateExpired:        "The session stayed offline longer than its expiry interval.",
	TerminateDiscarded:      "A new connection with Clean Start (CleanSession=1) discarded this persistent session.",
	TerminateAdministrative: "An operator ended the session through the admin API: discarded it, or disconnected a connection whose session ends with it.",
	TerminateNodeDown:       "The frontend node serving the connection of a session that ends with its connection stopped without closing it; the session service ended it on its behalf.",
}

// DropReason says why messages were dropped (mqtt.session.message_dropped).
type DropReason string

// Drop reasons. Consumers treat values they do not know as "other".
const (
	DropQueueFull      DropReason = "queue_full"
	DropExpired        DropReason = "expired"
	DropRetentionGap   DropReason = "retention_gap"
	DropSlowConsumer   DropReason = "slow_consumer"
	DropPacketTooLarge DropReason = "packet_too_large"
)

// DropReasons describes every DropReason; the schema's descriptions must say
// the same (checked by a test).
var DropReasons = map[DropReason]string{
	DropQueueFull:      "The offline queue was at its bound; its oldest messages were dropped to make room.",
	DropExpired:        "The message expiry interval elapsed before the message could be delivered.",
	DropRetentionGap:   "Log retention deleted the records before they could be delivered; from/to name the gap.",
	DropSlowConsumer:   "The client could not take the message in time (outbound queue full) and QoS 0 messages were shed.",
	DropPacketTooLarge: "The PUBLISH would exceed the client's Maximum Packet Size, so it was discarded as MQTT 5 requires.",
}

// UnsubscribeReason says who removed subscriptions when it was not the
// client's own UNSUBSCRIBE (mqtt.session.unsubscribed; absent otherwise).
type UnsubscribeReason string

// Unsubscribe reasons. Consumers treat values they do not know as "other".
const (
	UnsubscribeAdministrative UnsubscribeReason = "administrative"
)

// UnsubscribeReasons describes every UnsubscribeReason; the schema's
// descriptions must say the same (checked by a test).
var UnsubscribeReasons = map[UnsubscribeReason]string{
	UnsubscribeAdministrative: "An operator removed the subscription through the admin API; the client was not told.",
}

// WillTrigger says what published a will (mqtt.session.will_published).
type WillTrigger string

// Will triggers. Consumers treat values they do not know as "other".
const (
	WillConnectionEnded WillTrigger = "connection_ended"
	WillDelayElapsed    WillTrigger = "delay_elapsed"
	WillSessionEnded    WillTrigger = "session_ended"
)

// WillTriggers describes every WillTrigger; the schema's descriptions must
// say the same (checked by a test).
var WillTriggers = map[WillTrigger]string{
	WillConnectionEnded: "The connection ended other than by DISCONNECT with reason 0x00, and the will had no Will Delay Interval.",
	WillDelayElapsed:    "The Will Delay Interval passed without a new connection of the ClientID.",
	WillSessionEnded:    "The session ended (with its connection, or by expiry) before the Will Delay Interval passed.",
}
