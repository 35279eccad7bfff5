package session

import (
	"strconv"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Record headers on the messages and retained topics (docs/design.md):
// every process that writes or reads application messages uses these.
const (
	// HeaderQoS is the publish QoS, "0", "1" or "2".
	HeaderQoS = "mqtt-qos"
	// HeaderRetain is "1" when the PUBLISH had RETAIN set.
	HeaderRetain = "mqtt-retain"
	// HeaderClient is the publisher's ClientID (for No Local).
	HeaderClient = "mqtt-client"
	// HeaderProps holds the MQTT 5 properties as the codec encodes a
	// property block, without Topic Alias and Subscription Identifier.
	HeaderProps = "mqtt-props"
	// HeaderExpires is the unix ms when the message expires.
	HeaderExpires = "mqtt-expires"
	// HeaderTraceparent and HeaderTracestate carry the W3C trace context.
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Header values that never change, shared by every record: the Appender
// and kafka-go only read them.
var (
	qosValue    = [4][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3")}
	retainValue = []byte("1")
)

// PublishRecord builds the record of a PUBLISH for topic t (the messages
// or the retained topic), published by ClientID client at now. Topic
// Alias and Subscription Identifier are connection-scoped and never
// logged. An empty payload on the retained topic is a tombstone: the
// caller sets Value to nil for that.
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
		// W3C trace context travels in user properties of MQTT 5 clients.
		switch up.Key {
		case HeaderTraceparent, HeaderTracestate:
			rec.Headers = append(rec.Headers, kafkalog.Header{Key: up.Key, Value: []byte(up.Value)})
		}
	}
	return rec
}
