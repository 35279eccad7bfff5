package frontend

import (
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// Record headers on the messages and retained topics, as the session
// protocol defines them (session.PublishRecord writes them).
const (
	hdrQoS         = session.HeaderQoS
	hdrRetain      = session.HeaderRetain
	hdrClient      = session.HeaderClient
	hdrProps       = session.HeaderProps
	hdrExpires     = session.HeaderExpires
	hdrTraceparent = session.HeaderTraceparent
	hdrTracestate  = session.HeaderTracestate
)

// message is one application message as read back from the log, decoded
// once and shared by every session it is delivered to (read-only).
type message struct {
	partition int
	offset    int64 // -1 for messages not from the messages topic (retained)
	topic     string
	payload   []byte
	qos       byte
	retain    bool
	client    string
	props     mqtt.Properties
	expires   int64 // unix ms; 0 = never
	// W3C trace context of the publish span, from the record headers.
	traceparent, tracestate string
	// span is the context of the process span of live dispatch, the
	// parent of the delivery spans (see trace.go).
	span trace.SpanContext
}

// decodeMessage reads a record of the messages or retained topic.
func decodeMessage(rec *kafkalog.Record) *message {
	m := &message{
		partition: rec.Partition,
		offset:    rec.Offset,
		topic:     string(rec.Key),
		payload:   rec.Value,
	}
	if v, ok := rec.Header(hdrQoS); ok && len(v) == 1 && v[0] >= '0' && v[0] <= '2' {
		m.qos = v[0] - '0'
	}
	if v, ok := rec.Header(hdrRetain); ok && string(v) == "1" {
		m.retain = true
	}
	if v, ok := rec.Header(hdrClient); ok {
		m.client = string(v)
	}
	if v, ok := rec.Header(hdrProps); ok && len(v) > 0 {
		if p, err := mqtt.DecodeProperties(v); err == nil {
			m.props = *p
		}
	}
	if v, ok := rec.Header(hdrTraceparent); ok {
		m.traceparent = string(v)
		if v, ok := rec.Header(hdrTracestate); ok {
			m.tracestate = string(v)
		}
	}
	if v, ok := rec.Header(hdrExpires); ok {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			m.expires = n
		}
	}
	return m
}

// expired reports whether the Message Expiry Interval has passed.
func (m *message) expired(now time.Time) bool {
	return m.expires != 0 && now.UnixMilli() >= m.expires
}

// publishRecord builds the record of a client PUBLISH for topic t (the
// messages or the retained topic); see session.PublishRecord.
func publishRecord(t, client string, p *mqtt.Publish, now time.Time) *kafkalog.Record {
	return session.PublishRecord(t, client, p, now)
}
