package frontend

import (
	"errors"
	"sort"

	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// errStop ends a range read early.
var errStop = errors.New("stop")

// replay re-sends a resumed session's undelivered messages from the log
// (docs/design.md, CONNECT step 6): inflight first with their packet ids,
// then the offline queue, then the scan of [max(cursor, qfrom), sw) per
// partition; live deliveries wait in the outbox until it is done.
func (c *conn) replay(st session.State, sw map[int]int64) {
	defer c.wg.Done()
	done := c.ctx.Done()
	var link trace.SpanContext
	if span := c.startReplaySpan(&st); span != nil {
		defer span.End()
		link = span.SpanContext()
	}
	skip := make(map[int]map[int64]bool)
	mark := func(p int, o int64) {
		if skip[p] == nil {
			skip[p] = make(map[int64]bool)
		}
		skip[p][o] = true
	}
	for _, e := range st.Inflight {
		mark(e.Partition, e.Offset)
	}
	for _, q := range st.Queue {
		mark(q.Partition, q.Offset)
	}

	// 1. Inflight: same packet id, DUP; pubrec entries were answered with
	// PUBREL by restore.
	for _, e := range st.Inflight {
		if e.State != session.InflightSent {
			continue
		}
		msg, err := c.readOne(e.Partition, e.Offset)
		if err != nil {
			c.replayFailed(err)
			return
		}
		if msg == nil {
			c.out.dropInflight(e.PacketID)
			c.dropGap(e.Partition, e.Offset)
			continue
		}
		if !c.readable(msg.topic) {
			// The rules changed since it was sent: forget it, as if
			// completed, rather than send it again.
			c.out.dropInflight(e.PacketID)
			continue
		}
		m := c.matchSubs(msg)
		c.out.addResend(&delivery{msg: msg, qos: e.QoS, pid: e.PacketID, dup: true, subIDs: m.subIDs, retain: m.rap && msg.retain, replayed: true, link: link})
	}

	// 2. The offline queue, in log order per partition: one range read per
	// partition rather than one fetch per reference.
	for _, refs := range queueByPartition(pendingQueue(&st)) {
		p := refs[0].Partition
		want := make(map[int64]session.QueueRef, len(refs))
		for _, q := range refs {
			want[q.Offset] = q
		}
		from, to := refs[0].Offset, refs[len(refs)-1].Offset+1
		err := kafkalog.ReadRange(c.ctx, c.s.cfg.Kafka, c.s.cfg.Topics.Messages, p, from, to, func(rec *kafkalog.Record) error {
			q, ok := want[rec.Offset]
			if !ok {
				return nil
			}
			delete(want, rec.Offset)
			msg := decodeMessage(rec)
			if !c.readable(msg.topic) {
				c.out.releaseRef(q.Partition, q.Offset)
				return nil
			}
			m := c.matchSubs(msg)
			if !c.out.addReplay(&delivery{msg: msg, qos: q.QoS, subIDs: m.subIDs, retain: m.rap && msg.retain, replayed: true, link: link}, done) {
				return errStop
			}
			return nil
		})
		if errors.Is(err, errStop) {
			return
		}
		if err != nil {
			c.replayFailed(err)
			return
		}
		// What the range did not return, retention deleted.
		for _, q := range refs {
			if _, gone := want[q.Offset]; gone {
				c.out.releaseRef(q.Partition, q.Offset)
				c.dropGap(q.Partition, q.Offset)
			}
		}
	}

	// 3. Scan what the session has not seen up to where live dispatch
	// took over.
	parts := make([]int, 0, len(sw))
	for p := range sw {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	for _, p := range parts {
		end := sw[p]
		from := replayStart(&st, p, end)
		if from < end {
			err := kafkalog.ReadRange(c.ctx, c.s.cfg.Kafka, c.s.cfg.Topics.Messages, p, from, end, func(rec *kafkalog.Record) error {
				c.out.scanned(p, rec.Offset)
				if skip[p][rec.Offset] {
					return nil
				}
				msg := decodeMessage(rec)
				m := c.matchSubs(msg)
				if !m.ok || !c.readable(msg.topic) {
					return nil
				}
				if !c.out.addReplay(&delivery{msg: msg, qos: m.qos, subIDs: m.subIDs, retain: m.rap && msg.retain, replayed: true, link: link}, done) {
					return errStop
				}
				return nil
			})
			if errors.Is(err, errStop) {
				return
			}
			if err != nil {
				c.replayFailed(err)
				return
			}
		}
		c.out.scanDone(p)
	}
	c.out.replayDone()
}

// queueByPartition splits queue references by partition, keeping their
// order, with partitions in ascending order.
func queueByPartition(refs []session.QueueRef) [][]session.QueueRef {
	by := map[int][]session.QueueRef{}
	for _, q := range refs {
		by[q.Partition] = append(by[q.Partition], q)
	}
	parts := make([]int, 0, len(by))
	for p := range by {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	out := make([][]session.QueueRef, 0, len(parts))
	for _, p := range parts {
		out = append(out, by[p])
	}
	return out
}

// readOne reads the record at p/o of the messages topic; nil when
// retention deleted it.
func (c *conn) readOne(p int, o int64) (*message, error) {
	var msg *message
	err := kafkalog.ReadRange(c.ctx, c.s.cfg.Kafka, c.s.cfg.Topics.Messages, p, o, o+1, func(rec *kafkalog.Record) error {
		if rec.Offset == o {
			msg = decodeMessage(rec)
		}
		return nil
	})
	return msg, err
}

func (c *conn) dropGap(p int, o int64) {
	c.drop(events.DropRetentionGap, &message{partition: p, offset: o})
}

// replayFailed ends the connection: without its replay the session would
// miss messages, so the client had better reconnect and try again.
func (c *conn) replayFailed(err error) {
	if c.ctx.Err() != nil {
		return
	}
	c.log.Warn("replay failed", "err", err)
	c.kill(errors.Join(ErrKafkaUnavailable, err))
}
