package sessiond

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// batch collects the events one op causes. Their ids derive from the op's
// position and their index, so re-processing the op re-emits the same ids.
type batch struct {
	topic     string // sessions topic, part of the id
	partition int
	offset    int64
	at        time.Time
	envs      []events.Envelope
}

// add appends an event and returns its id.
func (b *batch) add(kind events.Type, node, cid string, data any) string {
	id := events.DeterministicID(b.topic, b.partition, b.offset, len(b.envs))
	b.envs = append(b.envs, events.NewWithID(id, kind, node, cid, data, b.at))
	return id
}

// records encodes the events for the lifecycle topic (key = ClientID).
func records(lifecycle string, envs []events.Envelope) ([]*kafkalog.Record, error) {
	out := make([]*kafkalog.Record, 0, len(envs))
	for i := range envs {
		e := &envs[i]
		v, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.Type, err)
		}
		hs := e.Headers()
		rh := make([]kafkalog.Header, len(hs))
		for j, h := range hs {
			rh[j] = kafkalog.Header{Key: h.Key, Value: h.Value}
		}
		out = append(out, &kafkalog.Record{Topic: lifecycle, Key: e.Key(), Value: v, Headers: rh, Time: e.Time})
	}
	return out, nil
}

func connection(m *session.Meta, cid string) events.Connection {
	return events.Connection{ClientID: cid, ConnID: m.Conn, Node: m.Node, Epoch: m.Epoch, Proto: int(m.Proto)}
}

func sess(m *session.Meta, cid, conn, node string) events.Session {
	return events.Session{ClientID: cid, ConnID: conn, Node: node, Epoch: m.Epoch, Proto: int(m.Proto)}
}

func disconnected(m *session.Meta, cid string, reason events.DisconnectReason, code byte, at int64) *events.Disconnected {
	d := at - m.Since
	if d < 0 {
		d = 0
	}
	ev := &events.Disconnected{
		Connection: connection(m, cid),
		Reason:     reason,
		DurationMS: d,
	}
	if reason != events.DisconnectNodeDown {
		// A dead frontend sent nothing: no reason code to report.
		c := int(code)
		ev.MQTTReasonCode = &c
	}
	return ev
}

func toEventSubs(subs []session.Subscription) []events.Subscription {
	out := make([]events.Subscription, len(subs))
	for i, s := range subs {
		out[i] = events.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished,
			RetainHandling: s.RetainHandling, SubscriptionID: s.SubID}
	}
	return out
}
