package frontend

import (
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
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
	if v, ok := rec.Header(kafkalog.HeaderQoS); ok && len(v) == 1 && v[0] >= '0' && v[0] <= '2' {
		m.qos = v[0] - '0'
	}
	if v, ok := rec.Header(kafkalog.HeaderRetain); ok && string(v) == "1" {
		m.retain = true
	}
	if v, ok := rec.Header(kafkalog.HeaderClient); ok {
		m.client = string(v)
	}
	if v, ok := rec.Header(kafkalog.HeaderProps); ok && len(v) > 0 {
		if p, err := mqtt.DecodeProperties(v); err == nil {
			m.props = *p
		}
	}
	if v, ok := rec.Header(kafkalog.HeaderTraceparent); ok {
		m.traceparent = string(v)
		if v, ok := rec.Header(kafkalog.HeaderTracestate); ok {
			m.tracestate = string(v)
		}
	}
	if v, ok := rec.Header(kafkalog.HeaderExpires); ok {
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

// Header values that never change, shared by every record: the Appender
// and kafka-go only read them.
var (
	qosValue    = [4][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3")}
	retainValue = []byte("1")
)

// publishRecord builds the record of a client PUBLISH for topic t (the
// messages or the retained topic). Topic Alias and Subscription Identifier
// are connection-scoped and never logged.
func publishRecord(t, client string, p *mqtt.Publish, now time.Time) *kafkalog.Record {
	// One allocation for the key and the client header; room for the
	// usual headers up front; constant values shared (never written to).
	kb := make([]byte, 0, len(p.Topic)+len(client))
	kb = append(append(kb, p.Topic...), client...)
	rec := &kafkalog.Record{Topic: t, Key: kb[:len(p.Topic):len(p.Topic)], Value: p.Payload, Time: now,
		Headers: make([]kafkalog.Header, 0, 4)}
	rec.Headers = append(rec.Headers,
		kafkalog.Header{Key: kafkalog.HeaderQoS, Value: qosValue[p.QoS&3]},
		kafkalog.Header{Key: kafkalog.HeaderClient, Value: kb[len(p.Topic):]})
	if p.Retain {
		rec.Headers = append(rec.Headers, kafkalog.Header{Key: kafkalog.HeaderRetain, Value: retainValue})
	}
	props := p.Properties
	props.TopicAlias = nil
	props.SubscriptionIDs = nil
	if props.MessageExpiry != nil {
		exp := now.Add(time.Duration(*props.MessageExpiry) * time.Second).UnixMilli()
		rec.Headers = append(rec.Headers, kafkalog.Header{Key: kafkalog.HeaderExpires, Value: strconv.AppendInt(nil, exp, 10)})
	}
	if b := mqtt.AppendProperties(nil, &props); len(b) > 0 {
		rec.Headers = append(rec.Headers, kafkalog.Header{Key: kafkalog.HeaderProps, Value: b})
	}
	for _, up := range p.Properties.UserProperties {
		// W3C trace context travels in user properties of MQTT 5 clients.
		switch up.Key {
		case kafkalog.HeaderTraceparent, kafkalog.HeaderTracestate:
			rec.Headers = append(rec.Headers, kafkalog.Header{Key: up.Key, Value: []byte(up.Value)})
		}
	}
	return rec
}
