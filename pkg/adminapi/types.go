// Package adminapi is the contract of the broker's admin HTTP API: the
// JSON documents its endpoints take and return, and a client for them.
// The server (services/admin) and the command line (mqtt-admin) share
// these types; the OpenAPI document served at /api/v1/openapi.yaml
// describes the same documents, and a test holds the two together.
package adminapi

import "time"

// Base is the path prefix of every endpoint.
const Base = "/api/v1"

// Session states in listings and filters.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// MaxLimit bounds the limit parameter of every paged endpoint.
const MaxLimit = 1000

// Error is the body of every response that is not a success.
type Error struct {
	// Error says what was wrong, for people.
	Error string `json:"error"`
}

// SessionSummary is one session in a listing.
type SessionSummary struct {
	ClientID string `json:"client_id"`
	// State is online or offline.
	State string `json:"state"`
	// Node is the frontend of the connection (online) or of the last one.
	Node     string `json:"node"`
	ConnID   string `json:"conn_id"`
	Epoch    int64  `json:"epoch"`
	Proto    int    `json:"proto"`
	Username string `json:"username,omitempty"`
	Peer     string `json:"peer,omitempty"`
	// ConnectedAt is when the connection at Epoch connected.
	ConnectedAt time.Time `json:"connected_at"`
	// ExpiresAt is when an offline session runs out (absent: online, or
	// never).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// SessionList is a page of sessions.
type SessionList struct {
	Sessions []SessionSummary `json:"sessions"`
	// NextCursor continues the listing; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Subscription is one subscription of a session with its options.
type Subscription struct {
	Filter            string `json:"filter"`
	QoS               int    `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    int    `json:"retain_handling"`
	SubscriptionID    uint32 `json:"subscription_id,omitempty"`
}

// MessageRef names a record of the messages topic.
type MessageRef struct {
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Inflight is a QoS 1/2 message sent to the client and not yet complete.
type Inflight struct {
	MessageRef
	PacketID int `json:"packet_id"`
	QoS      int `json:"qos"`
	// State is sent (waiting for PUBACK or PUBREC) or pubrec (waiting for
	// PUBCOMP).
	State string `json:"state"`
}

// QueueEntry is one offline-queue entry.
type QueueEntry struct {
	MessageRef
	QoS int `json:"qos"`
}

// Queue describes a session's offline queue.
type Queue struct {
	Length int         `json:"length"`
	Oldest *QueueEntry `json:"oldest,omitempty"`
	Newest *QueueEntry `json:"newest,omitempty"`
}

// Backlog counts the records of the messages topic past the session's
// cursor that match its subscriptions. The count stops at a bound: when
// Complete is false there may be more.
type Backlog struct {
	Count    int64 `json:"count"`
	Scanned  int64 `json:"scanned"`
	Complete bool  `json:"complete"`
}

// Session is everything known about one session.
type Session struct {
	SessionSummary
	CleanStart bool `json:"clean_start"`
	// ExpiryInterval is the session expiry in seconds (0: ends with the
	// connection; 4294967295: never).
	ExpiryInterval uint32    `json:"expiry_interval"`
	Keepalive      int       `json:"keepalive"`
	CreatedAt      time.Time `json:"created_at"`
	// SessionsPartition is the partition of the sessions topic that holds
	// the client's ops (and of the lifecycle topic its events, when the
	// two have as many partitions).
	SessionsPartition int            `json:"sessions_partition"`
	Subscriptions     []Subscription `json:"subscriptions"`
	Inflight          []Inflight     `json:"inflight"`
	// Cursor is, per messages partition, the first offset not yet
	// complete for the session.
	Cursor  map[string]int64 `json:"cursor"`
	Queue   Queue            `json:"queue"`
	Backlog Backlog          `json:"backlog"`
}

// History sources.
const (
	SourceOp    = "op"
	SourceEvent = "event"
)

// HistoryEntry is one op of the sessions topic or one lifecycle event.
type HistoryEntry struct {
	Time time.Time `json:"time"`
	// Source is op or event.
	Source string `json:"source"`
	// Kind is the op kind (connect, admin_disconnect, ...) or the event
	// type (mqtt.client.connected, ...).
	Kind      string `json:"kind"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	// Summary is a one-line description for people.
	Summary string `json:"summary"`
	// Data is the op as logged, or the event's data.
	Data map[string]any `json:"data"`
}

// History is a page of a session's history, newest first.
type History struct {
	ClientID string         `json:"client_id"`
	Entries  []HistoryEntry `json:"entries"`
	// NextCursor continues with older entries; absent when the start of
	// the log was reached.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Explain verdicts: what became of one message for one session.
const (
	// VerdictDelivered: the session's cursor passed the message.
	VerdictDelivered = "delivered"
	// VerdictInflight: sent, not yet acknowledged.
	VerdictInflight = "inflight"
	// VerdictQueued: in the offline queue.
	VerdictQueued = "queued"
	// VerdictDropped: a message_dropped event names it.
	VerdictDropped = "dropped"
	// VerdictExpired: its Message Expiry Interval passed first.
	VerdictExpired = "expired"
	// VerdictDenied: the ACL does not let the session's user read it.
	VerdictDenied = "denied"
	// VerdictNoSubscription: no subscription of the session matched it
	// when it was published.
	VerdictNoSubscription = "no_subscription"
	// VerdictPending: matched, not yet delivered, queued or dropped.
	VerdictPending = "pending"
	// VerdictUnknown: what is left in the log and the view cannot tell.
	VerdictUnknown = "unknown"
)

// ACL checks in an explanation.
const (
	ACLAllowed   = "allowed"
	ACLDenied    = "denied"
	ACLUnchecked = "unchecked"
)

// Message describes one record of the messages topic.
type Message struct {
	MessageRef
	Topic     string     `json:"topic"`
	QoS       int        `json:"qos"`
	Retain    bool       `json:"retain"`
	Publisher string     `json:"publisher,omitempty"`
	Time      time.Time  `json:"time"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// EventRef names a lifecycle event.
type EventRef struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	Reason    string    `json:"reason,omitempty"`
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
}

// Explanation says what became of one message for one session, and why.
type Explanation struct {
	ClientID string  `json:"client_id"`
	Message  Message `json:"message"`
	// Verdict is one of the Verdict constants.
	Verdict string `json:"verdict"`
	// Detail explains the verdict for people.
	Detail string `json:"detail"`
	// Subscriptions are the session's subscriptions when the message was
	// published; Matched those that matched it.
	Subscriptions []Subscription `json:"subscriptions"`
	Matched       []Subscription `json:"matched"`
	// ACL is allowed, denied or unchecked (no ACL configured here).
	ACL string `json:"acl"`
	// Event is the event behind a dropped or expired verdict.
	Event *EventRef `json:"event,omitempty"`
	// Inflight is the entry behind an inflight verdict.
	Inflight *Inflight `json:"inflight,omitempty"`
	// Cursor is the session's cursor on the message's partition, if any.
	Cursor *int64 `json:"cursor,omitempty"`
	// Basis says what the subscriptions at the time were read from:
	// history (the lifecycle events) or current (the view, when the
	// history was out of reach).
	Basis string `json:"basis"`
}

// Actions.
const (
	ActionDisconnect  = "disconnect"
	ActionDiscard     = "discard"
	ActionUnsubscribe = "unsubscribe"
)

// ActionResult is the answer to an action on a session: the op was
// appended to the sessions topic (Op) and the session service has applied
// it.
type ActionResult struct {
	Action   string     `json:"action"`
	ClientID string     `json:"client_id"`
	Epoch    int64      `json:"epoch"`
	Op       MessageRef `json:"op"`
	// Applied is false when a newer connection of the ClientID took the
	// session before the op reached it: the op was fenced.
	Applied bool `json:"applied"`
	// Session is the session after the action; absent when it is gone.
	Session *SessionSummary `json:"session,omitempty"`
}

// UserProperty is one MQTT 5 user property.
type UserProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Properties are the MQTT 5 PUBLISH properties the API takes and shows.
type Properties struct {
	PayloadFormat *int   `json:"payload_format,omitempty"`
	MessageExpiry *int64 `json:"message_expiry,omitempty"`
	ContentType   string `json:"content_type,omitempty"`
	ResponseTopic string `json:"response_topic,omitempty"`
	// CorrelationData is base64 (standard encoding).
	CorrelationData string         `json:"correlation_data,omitempty"`
	UserProperties  []UserProperty `json:"user_properties,omitempty"`
}

// PublishRequest is the body of POST /publish. Give the payload as text
// (Payload) or as base64 (PayloadBase64), not both.
type PublishRequest struct {
	Topic         string      `json:"topic"`
	Payload       *string     `json:"payload,omitempty"`
	PayloadBase64 *string     `json:"payload_base64,omitempty"`
	QoS           int         `json:"qos"`
	Retain        bool        `json:"retain"`
	Properties    *Properties `json:"properties,omitempty"`
}

// PublishResult says where the message was logged; the answer comes only
// once Kafka acknowledged it (acks=all).
type PublishResult struct {
	Topic   string      `json:"topic"`
	Message MessageRef  `json:"message"`
	Retain  *MessageRef `json:"retained,omitempty"`
}

// Retained is one retained message.
type Retained struct {
	Topic string `json:"topic"`
	// Payload is the payload as text when it is valid UTF-8; PayloadBase64
	// always holds it.
	Payload       *string     `json:"payload,omitempty"`
	PayloadBase64 string      `json:"payload_base64"`
	QoS           int         `json:"qos"`
	Properties    *Properties `json:"properties,omitempty"`
	Offset        int64       `json:"offset"`
	Time          time.Time   `json:"time"`
}

// RetainedList is a page of retained messages, by topic.
type RetainedList struct {
	Messages   []Retained `json:"messages"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// RetainedDeleted says where the tombstone was logged.
type RetainedDeleted struct {
	Topic  string `json:"topic"`
	Offset int64  `json:"offset"`
}

// Node is one frontend node.
type Node struct {
	Node        string     `json:"node"`
	Connections int        `json:"connections"`
	Version     string     `json:"version,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	LastSeen    *time.Time `json:"last_seen,omitempty"`
}

// NodeList lists the frontends.
type NodeList struct {
	Nodes []Node `json:"nodes"`
	// Source says where the list comes from: liveness (the frontends'
	// heartbeats) or sessions (the nodes holding online sessions in the
	// view).
	Source string `json:"source"`
}
