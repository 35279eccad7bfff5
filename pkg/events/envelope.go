package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SpecVersion is the CloudEvents version of every envelope.
const SpecVersion = "1.0"

// DataContentType is the media type of an envelope's data.
const DataContentType = "application/json"

// ContentType is the Kafka content-type header value of a structured-mode
// CloudEvent in the JSON event format (CloudEvents Kafka binding 3.3.1).
const ContentType = "application/cloudevents+json; charset=UTF-8"

// SchemaBase is the prefix of every schema $id; an event's dataschema is
// SchemaBase + the type without its "mqtt." prefix + ".json".
const SchemaBase = "https://schemas.tidemark.dev/lifecycle/v1/"

// TimeLayout is RFC 3339 in UTC with exactly three fractional digits, the
// form of the envelope's time attribute.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Errors returned when decoding envelopes.
var (
	// ErrUnknownType means the envelope's type is not one of Types: a newer
	// producer, or not a lifecycle event. Consumers should skip it.
	ErrUnknownType = errors.New("unknown event type")
	// ErrNotLifecycle means the JSON is not a CloudEvents 1.0 envelope.
	ErrNotLifecycle = errors.New("not a cloudevents 1.0 envelope")
)

// idSpace is the UUIDv5 namespace of DeterministicID. Changing it would
// change every derived id and break de-duplication across versions.
var idSpace = uuid.MustParse("6b1e6f3e-4b7c-5d2a-9f0e-7a7d1c2b3e4f")

// Envelope is a CloudEvents 1.0 event in structured JSON mode: the value of
// a lifecycle-topic record.
//
// Data holds one of the data types of this package (*Connected,
// *Disconnected, ...) after Decode or when built by New; unknown types keep
// it as json.RawMessage.
type Envelope struct {
	// SpecVersion is always SpecVersion.
	SpecVersion string `json:"specversion"`
	// ID is a UUID; de-duplicate on it (see DeterministicID).
	ID string `json:"id"`
	// Source names the node the event is about (see Source).
	Source string `json:"source"`
	// Type names the event and the Go type of Data.
	Type Type `json:"type"`
	// Time is when the cause happened, kept to the millisecond in UTC.
	Time time.Time `json:"time"`
	// Subject is the ClientID, omitted when empty (CloudEvents forbids an
	// empty subject).
	Subject string `json:"subject,omitempty"`
	// DataContentType is always DataContentType.
	DataContentType string `json:"datacontenttype"`
	// DataSchema is SchemaURL(Type).
	DataSchema string `json:"dataschema"`
	// Data is the event (see DataFor).
	Data any `json:"data"`
}

// Source returns the CloudEvents source of events about node:
// "tidemark://node/<node>" with the node name path-escaped. The node is the
// frontend that served the causing connection (or the session service node
// for events no connection caused), so a replay that re-derives an event
// from the same op yields the same source and id.
func Source(node string) string {
	return "tidemark://node/" + url.PathEscape(node)
}

// NodeOf returns the node name a Source value names, or "" if it is not
// one.
func NodeOf(source string) string {
	rest, ok := strings.CutPrefix(source, "tidemark://node/")
	if !ok {
		return ""
	}
	node, err := url.PathUnescape(rest)
	if err != nil {
		return ""
	}
	return node
}

// SchemaURL returns the dataschema (and schema $id) of kind.
func SchemaURL(kind Type) string {
	return SchemaBase + strings.TrimPrefix(string(kind), "mqtt.") + ".json"
}

// New builds an envelope with a random (version 4) id. data should be the
// pointer or value of the type that kind names (see DataFor).
func New(kind Type, node, clientID string, data any, at time.Time) Envelope {
	return NewWithID(uuid.NewString(), kind, node, clientID, data, at)
}

// NewWithID builds an envelope with the given id; see DeterministicID.
func NewWithID(id string, kind Type, node, clientID string, data any, at time.Time) Envelope {
	return Envelope{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          Source(node),
		Type:            kind,
		Time:            at.UTC().Truncate(time.Millisecond),
		Subject:         clientID,
		DataContentType: DataContentType,
		DataSchema:      SchemaURL(kind),
		Data:            data,
	}
}

// DeterministicID derives an event id (UUIDv5) from the log position of the
// record that caused it: the topic, partition and offset of the op, and the
// index of the event among those the op caused. Re-applying the same op
// after a restart re-emits the same ids, so consumers can de-duplicate.
func DeterministicID(topic string, partition int, offset int64, index int) string {
	name := fmt.Sprintf("%s/%d/%d/%d", topic, partition, offset, index)
	return uuid.NewSHA1(idSpace, []byte(name)).String()
}

// envelopeJSON is Envelope with the time as a fixed-width string and the
// data as raw JSON.
type envelopeJSON struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            Type            `json:"type"`
	Time            string          `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	DataSchema      string          `json:"dataschema"`
	Data            json.RawMessage `json:"data"`
}

// MarshalJSON writes the time with millisecond precision in UTC, which the
// schema and downstream SQL engines parse alike.
func (e Envelope) MarshalJSON() ([]byte, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("marshal %s data: %w", e.Type, err)
	}
	return json.Marshal(envelopeJSON{
		SpecVersion:     e.SpecVersion,
		ID:              e.ID,
		Source:          e.Source,
		Type:            e.Type,
		Time:            e.Time.UTC().Format(TimeLayout),
		Subject:         e.Subject,
		DataContentType: e.DataContentType,
		DataSchema:      e.DataSchema,
		Data:            data,
	})
}

// UnmarshalJSON decodes the envelope and its data into the type its type
// attribute names; data of an unknown type is kept as json.RawMessage
// without error, so consumers can skip it.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	var raw envelopeJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode envelope: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, raw.Time)
	if err != nil {
		return fmt.Errorf("decode envelope time: %w", err)
	}
	*e = Envelope{
		SpecVersion:     raw.SpecVersion,
		ID:              raw.ID,
		Source:          raw.Source,
		Type:            raw.Type,
		Time:            at,
		Subject:         raw.Subject,
		DataContentType: raw.DataContentType,
		DataSchema:      raw.DataSchema,
		Data:            raw.Data,
	}
	data := DataFor(raw.Type)
	if data == nil {
		return nil
	}
	if err := json.Unmarshal(raw.Data, data); err != nil {
		return fmt.Errorf("decode %s data: %w", raw.Type, err)
	}
	e.Data = data
	return nil
}

// Decode parses a lifecycle-topic record value. It fails when the value is
// not JSON or its data does not fit the type's Go struct; it returns an
// error wrapping ErrNotLifecycle for JSON that is not a CloudEvents 1.0
// envelope, and ErrUnknownType together with the envelope (data left raw)
// for a type this version does not know, which consumers should skip.
func Decode(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if e.SpecVersion != SpecVersion || e.ID == "" || e.Type == "" || e.Source == "" {
		return nil, fmt.Errorf("%w: needs specversion 1.0, id, type and source", ErrNotLifecycle)
	}
	if DataFor(e.Type) == nil {
		return &e, fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	return &e, nil
}

// DataFor returns a new pointer to the data type of kind (e.g. *Connected
// for ClientConnected), or nil for an unknown kind.
func DataFor(kind Type) any {
	switch kind {
	case ClientConnected:
		return new(Connected)
	case ClientDisconnected:
		return new(Disconnected)
	case ClientConnectRejected:
		return new(ConnectRejected)
	case SessionCreated:
		return new(Created)
	case SessionResumed:
		return new(Resumed)
	case SessionTerminated:
		return new(Terminated)
	case SessionSubscribed:
		return new(Subscribed)
	case SessionUnsubscribed:
		return new(Unsubscribed)
	case SessionMessageDropped:
		return new(MessageDropped)
	case SessionWillPublished:
		return new(WillPublished)
	case SessionWillCancelled:
		return new(WillCancelled)
	}
	return nil
}

// Header is one Kafka record header. It mirrors the Kafka adapter's header
// so this package needs no Kafka library.
type Header struct {
	Key   string
	Value []byte
}

// Headers returns the Kafka record headers of the envelope in structured
// mode: content-type (the only one the binding requires), plus the ce_id,
// ce_specversion, ce_type, ce_source, ce_subject and ce_time headers the
// binding allows in structured mode (3.3.3), so consumers can filter
// without parsing the value. The value stays authoritative. ce_subject is
// left out when the ClientID is empty (a refused CONNECT), as CloudEvents
// forbids an empty subject. The record key is Key.
func (e *Envelope) Headers() []Header {
	hs := []Header{
		{Key: "content-type", Value: []byte(ContentType)},
		{Key: "ce_specversion", Value: []byte(e.SpecVersion)},
		{Key: "ce_id", Value: []byte(e.ID)},
		{Key: "ce_type", Value: []byte(e.Type)},
		{Key: "ce_source", Value: []byte(e.Source)},
		{Key: "ce_time", Value: []byte(e.Time.UTC().Format(TimeLayout))},
	}
	if e.Subject != "" {
		hs = append(hs, Header{Key: "ce_subject", Value: []byte(e.Subject)})
	}
	return hs
}

// Key returns the Kafka record key: the ClientID, so one client's events
// share a partition and keep their order.
func (e *Envelope) Key() []byte {
	return []byte(e.Subject)
}
