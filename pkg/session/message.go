package session

import (
	"strconv"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Record headers of the messages and retained topics (docs/design.md),
// written by whoever publishes (a frontend for a PUBLISH, the session
// service for a will) and read by every follower of those topics.
const (
	HeaderQoS     = "mqtt-qos"
	HeaderRetain  = "mqtt-retain"
	HeaderClient  = "mqtt-client"
	HeaderProps   = "mqtt-props"
	HeaderExpires = "mqtt-expires"
	// HeaderWill marks a will message published by the session service:
	// the id of its mqtt.session.will_published event, which also lets a
	// recovering session service find out whether it was appended.
	HeaderWill        = "mqtt-will"
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Header values that never change, shared by every record: the Appender
// and kafka-go only read them.
var (
	qosValue    = [4][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3")}
	retainValue = []byte("1")
)

// PublishRecord builds the record of an MQTT PUBLISH by client for topic t
// (the messages or the retained topic). Topic Alias and Subscription
// Identifier are connection-scoped and never logged; a W3C trace context
// in the user properties is copied to the headers, so the trace follows
// the message even where nothing traces.
func PublishRecord(t, client string, p *mqtt.Publish, now time.Time) *kafkalog.Record {
	// One allocation for the key and the client header; room for the
	// usual headers up front; constant values shared (never written to).
	kb := make([]byte, 0, len(p.Topic)+len(client))
	kb = append(append(kb, p.Topic...), client...)
	rec := &kafkalog.Record{Topic: t, Key: kb[:len(p.Topic):len(p.Topic)], Value: p.Payload, Time: now,
		Headers: make([]kafkalog.Header, 0, 4)}
	rec.Headers = append(rec.Headers,
		kafkalog.Header{Key: HeaderQoS, Value: qosValue[p.QoS&3]},
		kafkalog.Header{Key: HeaderClient, Value: kb[len(p.Topic):]})
	if p.Retain {
		rec.Headers = append(rec.Headers, kafkalog.Header{Key: HeaderRetain, Value: retainValue})
	}
	props := p.Properties
	props.TopicAlias = nil
	props.SubscriptionIDs = nil
	if props.MessageExpiry != nil {
		exp := now.Add(time.Duration(*props.MessageExpiry) * time.Second).UnixMilli()
		rec.Headers = append(rec.Headers, kafkalog.Header{Key: HeaderExpires, Value: strconv.AppendInt(nil, exp, 10)})
	}
	if b := mqtt.AppendProperties(nil, &props); len(b) > 0 {
		rec.Headers = append(rec.Headers, kafkalog.Header{Key: HeaderProps, Value: b})
	}
	for _, up := range p.Properties.UserProperties {
		switch up.Key {
		case HeaderTraceparent, HeaderTracestate:
			rec.Headers = append(rec.Headers, kafkalog.Header{Key: up.Key, Value: []byte(up.Value)})
		}
	}
	return rec
}
