// Package events defines the broker's lifecycle events (the records of the
// lifecycle topic) and their CloudEvents 1.0 envelope.
//
// The Go types here and the JSON Schemas in the repository's schemas/
// directory describe the same documents; a drift test keeps them equal, so a
// change to one must be made to the other (see schemas/README.md for what may
// change within v1).
package events

// Type is a CloudEvents "type" attribute value naming one lifecycle event.
type Type string

// The lifecycle event types. The session service is their only producer, so
// the events of one ClientID appear in the order their causes were logged.
const (
	ClientConnected       Type = "mqtt.client.connected"
	ClientDisconnected    Type = "mqtt.client.disconnected"
	ClientConnectRejected Type = "mqtt.client.connect_rejected"
	SessionCreated        Type = "mqtt.session.created"
	SessionResumed        Type = "mqtt.session.resumed"
	SessionTerminated     Type = "mqtt.session.terminated"
	SessionSubscribed     Type = "mqtt.session.subscribed"
	SessionUnsubscribed   Type = "mqtt.session.unsubscribed"
	SessionMessageDropped Type = "mqtt.session.message_dropped"
	SessionWillPublished  Type = "mqtt.session.will_published"
	SessionWillCancelled  Type = "mqtt.session.will_cancelled"
)

// Types lists every lifecycle event type, in documentation order.
var Types = []Type{
	ClientConnected, ClientDisconnected, ClientConnectRejected,
	SessionCreated, SessionResumed, SessionTerminated,
	SessionSubscribed, SessionUnsubscribed, SessionMessageDropped,
	SessionWillPublished, SessionWillCancelled,
}

// Connection holds the fields common to the client.* events. ConnID is
// required: it pairs every client.connected with exactly one
// client.disconnected.
type Connection struct {
	// ClientID is the MQTT ClientID (also the envelope subject and Kafka key).
	ClientID string `json:"client_id"`
	// ConnID identifies one network connection (a UUID).
	ConnID string `json:"conn_id"`
	// Node is the frontend node that served the connection.
	Node string `json:"node"`
	// Epoch is the session epoch: the sessions-topic offset of the
	// connection's connect op. It grows with every accepted CONNECT of a
	// ClientID.
	Epoch int64 `json:"epoch"`
	// Proto is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5 (5.0).
	Proto int `json:"proto"`
}

// Session holds the fields common to the session.* events. ConnID is set
// when a connection caused the event and empty when the session service did
// on its own (expiry, offline queue drops).
type Session struct {
	// ClientID is the MQTT ClientID (also the envelope subject and Kafka key).
	ClientID string `json:"client_id"`
	// ConnID is the connection that caused the event, if any.
	ConnID string `json:"conn_id,omitempty"`
	// Node is the frontend node of the causing connection, or the session
	// service node when no connection caused the event.
	Node string `json:"node"`
	// Epoch is the session epoch (see Connection.Epoch).
	Epoch int64 `json:"epoch"`
	// Proto is the MQTT protocol level of the session's latest connection.
	Proto int `json:"proto"`
}

// Connected is the data of mqtt.client.connected: a CONNECT was accepted and
// CONNACK sent.
type Connected struct {
	Connection
	// CleanStart is MQTT 5 Clean Start or MQTT 3.1.1 CleanSession.
	CleanStart bool `json:"clean_start"`
	// SessionPresent is the CONNACK Session Present flag.
	SessionPresent bool `json:"session_present"`
	// ExpiryInterval is the effective session expiry in seconds (after
	// defaults and caps); 0 means the session ends with the connection.
	ExpiryInterval uint32 `json:"expiry_interval"`
	// KeepAlive is the keep alive in seconds the connection runs with.
	KeepAlive uint16 `json:"keepalive"`
	// Peer is the remote address (host:port).
	Peer string `json:"peer"`
	// Username is the CONNECT user name, if any. Passwords are never logged.
	Username string `json:"username,omitempty"`
	// ConnAck is the CONNACK code, always 0 (success) for this event.
	ConnAck int `json:"connack"`
}

// Disconnected is the data of mqtt.client.disconnected: a connection that
// was announced by mqtt.client.connected ended.
type Disconnected struct {
	Connection
	// Reason says why the connection ended.
	Reason DisconnectReason `json:"reason"`
	// MQTTReasonCode is the MQTT 5 reason code of the DISCONNECT sent or
	// received, if there was one (0 is "Normal disconnection").
	MQTTReasonCode *int `json:"mqtt_reason_code,omitempty"`
	// DurationMS is how long the connection was online, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// Operator names the admin API token that ended the connection (reason
	// administrative only).
	Operator string `json:"operator,omitempty"`
}

// ConnectRejected is the data of mqtt.client.connect_rejected: a CONNECT was
// refused. No session is created or changed.
type ConnectRejected struct {
	// ClientID is the ClientID the CONNECT asked for (may be empty).
	ClientID string `json:"client_id"`
	// ConnID identifies the refused network connection.
	ConnID string `json:"conn_id"`
	// Node is the frontend node that refused it.
	Node string `json:"node"`
	// Epoch is the sessions-topic offset of the rejected op; it is not a
	// session epoch, as no session results.
	Epoch int64 `json:"epoch"`
	// Proto is the protocol level the CONNECT asked for, which may be
	// unsupported (that may be why it was refused).
	Proto int `json:"proto"`
	// ConnAck is the CONNACK return code (3.1.1) or reason code (5) sent.
	ConnAck int `json:"connack"`
	// Reason is a human-readable explanation, not meant for parsing.
	Reason string `json:"reason"`
	// Peer is the remote address (host:port).
	Peer string `json:"peer"`
	// Username is the CONNECT user name, if any.
	Username string `json:"username,omitempty"`
}

// Created is the data of mqtt.session.created: a new session began (no
// session existed, or Clean Start discarded it).
type Created struct {
	Session
	// CleanStart is MQTT 5 Clean Start or MQTT 3.1.1 CleanSession.
	CleanStart bool `json:"clean_start"`
	// ExpiryInterval is the effective session expiry in seconds.
	ExpiryInterval uint32 `json:"expiry_interval"`
}

// Resumed is the data of mqtt.session.resumed: a connection took over an
// existing session (Session Present = 1).
type Resumed struct {
	Session
	// ExpiryInterval is the effective session expiry in seconds.
	ExpiryInterval uint32 `json:"expiry_interval"`
}

// Terminated is the data of mqtt.session.terminated: a session ended and its
// state was deleted.
type Terminated struct {
	Session
	// Reason says why the session ended.
	Reason TerminateReason `json:"reason"`
	// Operator names the admin API token that ended the session (reason
	// administrative only).
	Operator string `json:"operator,omitempty"`
}

// Subscription is one filter of a SUBSCRIBE with its options.
type Subscription struct {
	// Filter is the topic filter as subscribed, including any
	// $share/{group}/ prefix.
	Filter string `json:"filter"`
	// QoS is the granted maximum QoS (0, 1 or 2).
	QoS byte `json:"qos"`
	// NoLocal is the MQTT 5 No Local option.
	NoLocal bool `json:"no_local,omitempty"`
	// RetainAsPublished is the MQTT 5 Retain As Published option.
	RetainAsPublished bool `json:"retain_as_published,omitempty"`
	// RetainHandling is the MQTT 5 Retain Handling option (0, 1 or 2).
	RetainHandling byte `json:"retain_handling,omitempty"`
	// SubscriptionID is the MQTT 5 Subscription Identifier, 0 if none.
	SubscriptionID uint32 `json:"subscription_id,omitempty"`
}

// Subscribed is the data of mqtt.session.subscribed: a SUBSCRIBE was applied
// to the session (before SUBACK).
type Subscribed struct {
	Session
	// Subscriptions are the filters added or replaced, in packet order.
	Subscriptions []Subscription `json:"subscriptions"`
}

// Unsubscribed is the data of mqtt.session.unsubscribed: an UNSUBSCRIBE was
// applied to the session.
type Unsubscribed struct {
	Session
	// Filters are the filters removed, in packet order.
	Filters []string `json:"filters"`
	// Reason is set when the client did not ask for the removal.
	Reason UnsubscribeReason `json:"reason,omitempty"`
	// Operator names the admin API token that removed the filters (reason
	// administrative only).
	Operator string `json:"operator,omitempty"`
}

// MessageDropped is the data of mqtt.session.message_dropped: messages that
// matched the session were not and will not be delivered to it.
type MessageDropped struct {
	Session
	// Reason says why the messages were dropped.
	Reason DropReason `json:"reason"`
	// Topic is the MQTT topic name when the drop concerns one message.
	Topic string `json:"topic,omitempty"`
	// Partition is the messages-topic partition of the dropped records.
	Partition int `json:"partition"`
	// From is the first dropped offset in Partition.
	From int64 `json:"from"`
	// To is one past the last dropped offset (the range is [From, To)).
	To int64 `json:"to"`
	// Count is how many messages were dropped: for retention_gap the number
	// of records lost in the range, whether or not each matched.
	Count int64 `json:"count"`
}

// WillPublished is the data of mqtt.session.will_published: the session
// service appended a will message to the messages topic (and to the
// retained topic when it is retained). The record carries this event's id
// in its mqtt-will header. Session names the connection the will belongs
// to; Node is its frontend when the will went out as the connection ended,
// the session service node when it went out later.
type WillPublished struct {
	Session
	// Topic is the will's topic name.
	Topic string `json:"topic"`
	// QoS is the will's QoS (0, 1 or 2).
	QoS byte `json:"qos"`
	// Retain is the will's retain flag.
	Retain bool `json:"retain"`
	// WillDelay is the Will Delay Interval the client asked for, in
	// seconds (0 for MQTT 3.x).
	WillDelay uint32 `json:"will_delay"`
	// Trigger says what published it.
	Trigger WillTrigger `json:"trigger"`
}

// WillCancelled is the data of mqtt.session.will_cancelled: a will waiting
// out its Will Delay Interval was dropped because a new connection of the
// ClientID was accepted [MQTT-3.1.3-9]. Session names that new connection.
type WillCancelled struct {
	Session
	// Topic is the cancelled will's topic name.
	Topic string `json:"topic"`
	// WillConnID is the connection the will belonged to.
	WillConnID string `json:"will_conn_id"`
	// WillDelay is its Will Delay Interval, in seconds.
	WillDelay uint32 `json:"will_delay"`
}
