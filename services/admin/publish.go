package admin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// MaxPayload bounds a published payload, as the frontends' default
// packet size does.
const MaxPayload = 1 << 20

// publish logs a message as a client's PUBLISH would be logged (and the
// retained copy when asked for), and answers once Kafka acknowledged
// every record with acks=all.
func (s *Server) publish(r *http.Request, tok auth.Token) reply {
	var req adminapi.PublishRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 2*MaxPayload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fail(http.StatusBadRequest, "body must be a JSON publish request: %v", err)
	}
	p, err := toPublish(req)
	if err != nil {
		return fail(http.StatusBadRequest, "%v", err)
	}
	now := time.Now()
	// The publisher is no client: No Local skips no subscriber.
	recs := []*kafkalog.Record{session.PublishRecord(s.cfg.Topics.Messages, "", p, now)}
	if p.Retain {
		rr := session.PublishRecord(s.cfg.Topics.Retained, "", p, now)
		if len(p.Payload) == 0 {
			rr.Value = nil // an empty retained message clears the topic
		}
		recs = append(recs, rr)
	}
	if err := s.append(r.Context(), recs...); err != nil {
		return failErr("append the message", err)
	}
	s.log.Info("admin publish", "operator", tok.Name, "topic", p.Topic, "qos", p.QoS, "retain", p.Retain,
		"partition", recs[0].Partition, "offset", recs[0].Offset)
	out := adminapi.PublishResult{Topic: p.Topic, Message: adminapi.MessageRef{Partition: recs[0].Partition, Offset: recs[0].Offset}}
	if p.Retain {
		rr := recs[1]
		out.Retain = &adminapi.MessageRef{Partition: rr.Partition, Offset: rr.Offset}
		// Read your writes: the listing shows it once this answer came.
		s.retained.waitPast(r.Context(), rr.Partition, rr.Offset)
	}
	return ok(out)
}

// toPublish checks a publish request and turns it into a PUBLISH.
func toPublish(req adminapi.PublishRequest) (*mqtt.Publish, error) {
	if err := topic.ValidateName(req.Topic); err != nil {
		return nil, fmt.Errorf("topic %q: %w", req.Topic, err)
	}
	if req.QoS != 0 && req.QoS != 1 {
		return nil, fmt.Errorf("qos must be 0 or 1, got %d", req.QoS)
	}
	p := &mqtt.Publish{Topic: req.Topic, QoS: byte(req.QoS), Retain: req.Retain}
	switch {
	case req.Payload != nil && req.PayloadBase64 != nil:
		return nil, errors.New("give payload or payload_base64, not both")
	case req.Payload != nil:
		p.Payload = []byte(*req.Payload)
	case req.PayloadBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.PayloadBase64)
		if err != nil {
			return nil, fmt.Errorf("payload_base64: %w", err)
		}
		p.Payload = b
	}
	if len(p.Payload) > MaxPayload {
		return nil, fmt.Errorf("payload of %d bytes exceeds %d", len(p.Payload), MaxPayload)
	}
	if req.Properties == nil {
		return p, nil
	}
	pr := req.Properties
	if pr.PayloadFormat != nil {
		if *pr.PayloadFormat != 0 && *pr.PayloadFormat != 1 {
			return nil, fmt.Errorf("payload_format must be 0 or 1, got %d", *pr.PayloadFormat)
		}
		if *pr.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
			return nil, errors.New("payload_format 1 needs a UTF-8 payload")
		}
		p.Properties.PayloadFormat = mqtt.Ptr(byte(*pr.PayloadFormat))
	}
	if pr.MessageExpiry != nil {
		if *pr.MessageExpiry < 0 || *pr.MessageExpiry > 0xFFFFFFFF {
			return nil, fmt.Errorf("message_expiry must be 0 to 4294967295 seconds, got %d", *pr.MessageExpiry)
		}
		p.Properties.MessageExpiry = mqtt.Ptr(uint32(*pr.MessageExpiry))
	}
	if pr.ContentType != "" {
		p.Properties.ContentType = mqtt.Ptr(pr.ContentType)
	}
	if pr.ResponseTopic != "" {
		if err := topic.ValidateName(pr.ResponseTopic); err != nil {
			return nil, fmt.Errorf("response_topic %q: %w", pr.ResponseTopic, err)
		}
		p.Properties.ResponseTopic = mqtt.Ptr(pr.ResponseTopic)
	}
	if pr.CorrelationData != "" {
		b, err := base64.StdEncoding.DecodeString(pr.CorrelationData)
		if err != nil {
			return nil, fmt.Errorf("correlation_data: %w", err)
		}
		p.Properties.CorrelationData = b
	}
	for _, up := range pr.UserProperties {
		p.Properties.UserProperties = append(p.Properties.UserProperties, mqtt.UserProperty{Key: up.Key, Value: up.Value})
	}
	return p, nil
}

// apiProperties shows the properties of a logged message.
func apiProperties(pr *mqtt.Properties) *adminapi.Properties {
	out := &adminapi.Properties{}
	empty := true
	if pr.PayloadFormat != nil {
		v := int(*pr.PayloadFormat)
		out.PayloadFormat, empty = &v, false
	}
	if pr.MessageExpiry != nil {
		v := int64(*pr.MessageExpiry)
		out.MessageExpiry, empty = &v, false
	}
	if pr.ContentType != nil {
		out.ContentType, empty = *pr.ContentType, false
	}
	if pr.ResponseTopic != nil {
		out.ResponseTopic, empty = *pr.ResponseTopic, false
	}
	if pr.CorrelationData != nil {
		out.CorrelationData, empty = base64.StdEncoding.EncodeToString(pr.CorrelationData), false
	}
	for _, up := range pr.UserProperties {
		out.UserProperties, empty = append(out.UserProperties, adminapi.UserProperty{Key: up.Key, Value: up.Value}), false
	}
	if empty {
		return nil
	}
	return out
}
