package session

import (
	"strconv"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Header values that never change, shared by every record: the Appender
// and kafka-go only read them.
var (
	qosValue    = [4][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3")}
	retainValue = []byte("1")
)

// PublishRecord builds the record of a PUBLISH for topic t (the messages
// or the retained topic), published by ClientID client at now (a frontend
// for a client's PUBLISH, the session service for a will, the admin API).
// Topic Alias and Subscription Identifier are connection-scoped and never
// logged; a W3C trace context in the user properties is copied to the
// headers, so the trace follows the message even where nothing traces. An
// empty payload on the retained topic is a tombstone: the caller sets
// Value to nil for that.
func PublishRecord(t, client string, p *mqtt.Publish, now time.Time) *kafkalog.Record {
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
