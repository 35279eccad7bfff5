package sessiond

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// Wills are held by the cluster: a connect op carries the will, the
// session hash keeps it while the connection lives and while it waits out
// its delay, and the run that decides to publish it appends it to the
// messages topic like a PUBLISH from the client (session.PublishRecord),
// in the same Append as the run's events.
//
// A run is applied again after a crash between that Append and its Redis
// transaction; a will must not go out twice. So before the Append the run
// marks each will in Redis with the end offset of its messages partition,
// and the transaction removes the marks. A run that finds a mark scans the
// partition from there for the will's id (header mqtt-will) and appends
// only the wills it does not find.

// errFound ends a scan early.
var errFound = errors.New("found")

// willRecords returns the records of the wills a run publishes that are
// not in the log yet, marking them first (see above), and their spans.
func (s *Service) willRecords(ctx context.Context, p *part, wills []willPub) ([]*kafkalog.Record, willTraces, error) {
	if len(wills) == 0 {
		return nil, nil, nil
	}
	bounds, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Messages)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(wills))
	for i, w := range wills {
		ids[i] = w.id
	}
	marks, err := s.w.WillMarks(ctx, p.n, ids)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	var (
		recs   []*kafkalog.Record
		traces willTraces
		fresh  = map[string]session.WillMark{}
	)
	for _, w := range wills {
		msg := s.willRecord(w, now)
		if m, ok := marks[w.id]; ok {
			logged, err := s.willLogged(ctx, m, bounds, w.id)
			if err != nil {
				return nil, nil, err
			}
			if logged {
				// Its retained copy went in the same Append; appending it
				// again could overwrite a newer retained message.
				s.log.Info("will already published; not again", "client", w.cid, "will", w.id)
				continue
			}
		} else {
			part := kafkalog.PartitionFor(msg.Key, len(bounds))
			fresh[w.id] = session.WillMark{Partition: part, From: bounds[part].Next}
		}
		traces = append(traces, startWillSpan(w, msg))
		recs = append(recs, msg)
		if w.meta.Will.Retain {
			r := *msg
			r.Topic, r.Headers = s.cfg.Topics.Retained, slices.Clone(msg.Headers)
			if len(r.Value) == 0 {
				r.Value = nil // an empty retained will clears the topic's retained message
			}
			recs = append(recs, &r)
		}
	}
	if err := s.w.MarkWills(ctx, p.n, fresh); err != nil {
		return nil, nil, err
	}
	if hookWillsMarked != nil {
		if err := hookWillsMarked(); err != nil {
			return nil, nil, err
		}
	}
	return recs, traces, nil
}

// hookWillsMarked, when set (tests), runs after the marks are written and
// before the Append; an error ends the run there.
var hookWillsMarked func() error

// hookAppended, when set (tests), runs after a run's Append and before its
// Redis transaction; an error ends the run there, as a crash would.
var hookAppended func() error

// willRecord builds the messages-topic record of w's will, carrying the
// will's id and the trace context of the CONNECT that carried it unless
// the will brings its own.
func (s *Service) willRecord(w willPub, now time.Time) *kafkalog.Record {
	will := w.meta.Will
	pub := &mqtt.Publish{Topic: will.Topic, Payload: will.Payload, QoS: will.QoS, Retain: will.Retain}
	if len(will.Props) > 0 {
		if props, err := mqtt.DecodeProperties(will.Props); err == nil {
			pub.Properties = *props
		} else {
			s.log.Warn("will properties unreadable; published without them", "client", w.cid, "err", err)
		}
	}
	pub.Properties.WillDelay = nil // a will property, not a PUBLISH one
	msg := session.PublishRecord(s.cfg.Topics.Messages, w.cid, pub, now)
	if _, ok := msg.Header(kafkalog.HeaderTraceparent); !ok && w.meta.WillParent != "" {
		msg.Headers = append(msg.Headers, kafkalog.Header{Key: kafkalog.HeaderTraceparent, Value: []byte(w.meta.WillParent)})
		if w.meta.WillState != "" {
			msg.Headers = append(msg.Headers, kafkalog.Header{Key: kafkalog.HeaderTracestate, Value: []byte(w.meta.WillState)})
		}
	}
	msg.Headers = append(msg.Headers, kafkalog.Header{Key: kafkalog.HeaderWill, Value: []byte(w.id)})
	return msg
}

// willLogged reports whether the will id is in the messages topic after
// its mark.
func (s *Service) willLogged(ctx context.Context, m session.WillMark, bounds map[int]kafkalog.Bounds, id string) (bool, error) {
	b, ok := bounds[m.Partition]
	if !ok {
		return false, fmt.Errorf("will mark names partition %d of %d", m.Partition, len(bounds))
	}
	err := kafkalog.ReadRange(ctx, s.cfg.Kafka, s.cfg.Topics.Messages, m.Partition, m.From, b.Next, func(rec *kafkalog.Record) error {
		if v, ok := rec.Header(kafkalog.HeaderWill); ok && string(v) == id {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("look for will %s: %w", id, err)
	}
	return false, nil
}
