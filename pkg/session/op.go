// Package session is the session protocol shared by frontends and the
// session service: the ops frontends append to the sessions topic (keyed by
// ClientID, so one client's ops are totally ordered), and the Redis view the
// session service builds from them. Frontends only read the view (Reader);
// the session service is its single writer (Writer).
//
// The offset of a connection's connect op is its epoch, a fencing token: ops
// carrying an older epoch than the session's never change it.
package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// HeaderOp is the record header naming the op kind, so consumers that care
// about one kind (frontends watch connects for takeover) skip decoding the
// rest.
const HeaderOp = "op"

// Op kinds, the value of the `op` field and header.
const (
	OpConnect     = "connect"
	OpRejected    = "rejected"
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpProgress    = "progress"
	OpQoS2Out     = "qos2_out"
	OpQoS2In      = "qos2_in"
	OpQoS2Rel     = "qos2_rel"
	OpDisconnect  = "disconnect"
	OpDrop        = "drop"
	// OpExpire is appended by the session service itself when an offline
	// session's expiry passes; logging it (rather than deleting directly)
	// keeps expiry in the log, so a rebuild replays it, and fences it against
	// a connect that races it.
	OpExpire = "expire"

	// Administrative ops, appended by the admin API on an operator's
	// behalf. Each carries the epoch of the session as the operator saw
	// it, so it is fenced like a connection's op: it never acts on a
	// newer connection than the one the operator meant.
	//
	// OpAdminDisconnect ends the connection at the epoch (the frontend
	// holding it closes it, MQTT 5: DISCONNECT 0x98); the session lives on
	// offline as after any disconnect, or ends if it ends with its
	// connection.
	OpAdminDisconnect = "admin_disconnect"
	// OpAdminDiscard ends the session at the epoch, online or not.
	OpAdminDiscard = "admin_discard"
	// OpAdminUnsubscribe removes the filters of Filters from the session
	// at the epoch, online or not; an online client is not told.
	OpAdminUnsubscribe = "admin_unsubscribe"

	// OpNodeDown is appended by the session service, pinned to one sessions
	// partition and with no ClientID, when a frontend incarnation is
	// declared dead: every session of the partition still online on that
	// incarnation ends as a connection closed without DISCONNECT (reason
	// node_down). Being in the partition orders it against every connect
	// and disconnect of the partition's clients, and a rebuild replays it.
	OpNodeDown = string(events.TerminateNodeDown)
	// OpWill is appended by the session service when a delayed will is
	// due; it publishes the will only if it is still pending at the op's
	// epoch (a connect of the ClientID cancels it).
	OpWill = "will"
)

// IsAdmin reports whether kind is an administrative op.
func IsAdmin(kind string) bool {
	switch kind {
	case OpAdminDisconnect, OpAdminDiscard, OpAdminUnsubscribe:
		return true
	}
	return false
}

// Inflight states.
const (
	InflightSent   = "sent"
	InflightPubrec = "pubrec"
)

// ErrBadOp is wrapped by DecodeOp errors: the record is not a valid op.
var ErrBadOp = errors.New("bad session op")

// Subscription is one accepted subscription with its MQTT 5 options.
type Subscription struct {
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"rap,omitempty"`
	RetainHandling    byte   `json:"rh,omitempty"`
	SubID             uint32 `json:"sub_id,omitempty"`
}

// Inflight is an outbound QoS 1/2 message sent to the client and not yet
// complete, as a reference into the messages topic.
type Inflight struct {
	PacketID  uint16 `json:"pid"`
	Partition int    `json:"p"`
	Offset    int64  `json:"o"`
	QoS       byte   `json:"qos"`
	State     string `json:"state"`
}

// Will is the will message of a connect op.
type Will struct {
	Topic   string `json:"topic"`
	Payload []byte `json:"payload,omitempty"`
	QoS     byte   `json:"qos,omitempty"`
	Retain  bool   `json:"retain,omitempty"`
	Props   []byte `json:"props,omitempty"`
	Delay   uint32 `json:"delay,omitempty"`
}

// Op is one session op. Common fields come first; the rest are set only by
// the kinds that use them (docs/design.md lists which). Zero values are
// omitted from the JSON, which decodes back to the same zero values.
type Op struct {
	Kind     string `json:"op"`
	ClientID string `json:"cid"`
	Conn     string `json:"conn,omitempty"`
	Epoch    int64  `json:"epoch"`
	Node     string `json:"node,omitempty"`
	TS       int64  `json:"ts"`
	// By names the admin API token of an administrative op: the audit
	// trail of who did it.
	By string `json:"by,omitempty"`
	// Inc is the frontend incarnation (a process start) that sent a
	// connect, or the one a node_down op declares dead.
	Inc string `json:"inc,omitempty"`

	// connect, rejected
	Proto      byte   `json:"proto,omitempty"`
	Clean      bool   `json:"clean,omitempty"`
	Keepalive  uint16 `json:"keepalive,omitempty"`
	Username   string `json:"username,omitempty"`
	Peer       string `json:"peer,omitempty"`
	ReceiveMax uint16 `json:"receive_max,omitempty"`
	Will       *Will  `json:"will,omitempty"`
	Connack    byte   `json:"connack,omitempty"`
	// Expiry is the session expiry interval in seconds (connect,
	// disconnect); 0 ends the session with the connection.
	Expiry uint32 `json:"expiry,omitempty"`

	// rejected, disconnect, drop: why. A disconnect op carries an
	// events.DisconnectReason, a drop op an events.DropReason (the words of
	// the lifecycle events, defined there only); a rejected op free text.
	Reason string `json:"reason,omitempty"`
	// disconnect: the MQTT reason code.
	Code byte `json:"code,omitempty"`
	// disconnect: the connection never got a successful CONNACK (refused
	// after its connect op was logged, or ended before it): a will
	// belongs to an accepted connection only, so it is not published.
	Unaccepted bool `json:"unaccepted,omitempty"`

	// subscribe, unsubscribe, admin_unsubscribe
	Subs    []Subscription `json:"subs,omitempty"`
	Filters []string       `json:"filters,omitempty"`

	// progress
	Cursor   map[int]int64 `json:"cursor,omitempty"`
	Inflight []Inflight    `json:"inflight,omitempty"`

	// qos2_out, qos2_in, qos2_rel, drop
	PacketID  uint16 `json:"pid,omitempty"`
	Partition int    `json:"p,omitempty"`
	Offset    int64  `json:"o,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Count     int    `json:"count,omitempty"`
}

// Record encodes the op as a record for the sessions topic: key ClientID
// (so all of one client's ops share a partition), header op = kind.
func (o *Op) Record(sessionsTopic string) *kafkalog.Record {
	v, err := json.Marshal(o)
	if err != nil {
		// Op holds only marshalable types; this cannot happen.
		panic(fmt.Sprintf("marshal op: %v", err))
	}
	ts := time.Now()
	if o.TS != 0 {
		ts = time.UnixMilli(o.TS)
	}
	return &kafkalog.Record{
		Topic:   sessionsTopic,
		Key:     []byte(o.ClientID),
		Value:   v,
		Headers: []kafkalog.Header{{Key: HeaderOp, Value: []byte(o.Kind)}},
		Time:    ts,
	}
}

// PartitionRecord encodes an op that concerns a sessions partition rather
// than one client (node_down) as a record pinned to that partition.
func (o *Op) PartitionRecord(sessionsTopic string, partition int) *kafkalog.Record {
	rec := o.Record(sessionsTopic)
	rec.Key = nil
	rec.Partition, rec.Pinned = partition, true
	return rec
}

// DecodeOp decodes a sessions-topic record. The key wins over a differing
// cid, since the key decided the partition and so the order.
func DecodeOp(rec *kafkalog.Record) (*Op, error) {
	var o Op
	if err := json.Unmarshal(rec.Value, &o); err != nil {
		return nil, fmt.Errorf("decode op at %d/%d: %w: %v", rec.Partition, rec.Offset, ErrBadOp, err)
	}
	if o.Kind == "" {
		if h, ok := rec.Header(HeaderOp); ok {
			o.Kind = string(h)
		}
	}
	if len(rec.Key) > 0 {
		o.ClientID = string(rec.Key)
	}
	if o.Kind == "" {
		return nil, fmt.Errorf("decode op at %d/%d: %w: no kind", rec.Partition, rec.Offset, ErrBadOp)
	}
	return &o, nil
}
