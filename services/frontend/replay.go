package frontend

import (
	"errors"
	"sort"

	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// errStop ends a range read early.
var errStop = errors.New("stop")

// replayKind says what a replayItem is.
type replayKind uint8

const (
	replayResend  replayKind = iota // an inflight message to send again (msg nil: gone)
	replayQueued                    // an offline queue reference (msg nil: gone)
	replayScan                      // a record of the scan that matched the subscriptions
	replayScanned                   // the scan of p passed every offset below o
	replayScanEnd                   // the scan of p is done: live dispatch covers it
	replayEnd                       // everything is replayed: live deliveries may follow
	replayFailed                    // the log could not be read (err)
)

// replayItem is what the replayer hands the loop, in its order.
type replayItem struct {
	kind replayKind
	msg  *message
	pid  uint16
	qos  byte
	p    int
	o    int64
	link trace.SpanContext
	err  error
}

// replay reads a resumed session's undelivered messages from the log
// (docs/design.md, CONNECT step 6) and hands them to the loop: inflight
// first with their packet ids, then the offline queue, then the scan of
// [max(cursor, qfrom), sw) per partition; live deliveries wait in the
// outbox until it is done. It reads only: the loop decides, against the
// subscriptions and the ACL as they are then, what is delivered.
func (c *conn) replay(st session.State, sw map[int]int64) {
	defer c.s.replayWG.Done()
	defer c.post(func() {
		c.replaying = false
		c.endStep()
	})
	var link trace.SpanContext
	if span := c.startReplaySpan(&st); span != nil {
		defer span.End()
		link = span.SpanContext()
	}
	put := func(it replayItem) bool {
		it.link = link
		return c.putReplay(it)
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
	// PUBREL at attach.
	for _, e := range st.Inflight {
		if e.State != session.InflightSent {
			continue
		}
		msg, err := c.readOne(e.Partition, e.Offset)
		if err != nil {
			put(replayItem{kind: replayFailed, err: err})
			return
		}
		if !put(replayItem{kind: replayResend, msg: msg, pid: e.PacketID, qos: e.QoS, p: e.Partition, o: e.Offset}) {
			return
		}
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
			if !put(replayItem{kind: replayQueued, msg: decodeMessage(rec), qos: q.QoS, p: p, o: rec.Offset}) {
				return errStop
			}
			return nil
		})
		if errors.Is(err, errStop) || c.ctx.Err() != nil {
			return
		}
		if err != nil {
			put(replayItem{kind: replayFailed, err: err})
			return
		}
		// What the range did not return, retention deleted.
		for _, q := range refs {
			if _, gone := want[q.Offset]; gone && !put(replayItem{kind: replayQueued, qos: q.QoS, p: q.Partition, o: q.Offset}) {
				return
			}
		}
	}

	// 3. Scan what the session has not seen up to where live dispatch
	// took over. The subscriptions at the start narrow what is handed on;
	// the loop matches again against the ones in force.
	var filters []string
	for _, s := range st.Subscriptions {
		if !isShared(s.Filter) {
			filters = append(filters, s.Filter)
		}
	}
	parts := make([]int, 0, len(sw))
	for p := range sw {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	for _, p := range parts {
		end := sw[p]
		from := replayStart(&st, p, end)
		if from < end {
			n := 0
			err := kafkalog.ReadRange(c.ctx, c.s.cfg.Kafka, c.s.cfg.Topics.Messages, p, from, end, func(rec *kafkalog.Record) error {
				n++
				if !skip[p][rec.Offset] && matchesAny(filters, string(rec.Key)) {
					if !put(replayItem{kind: replayScan, msg: decodeMessage(rec), p: p, o: rec.Offset}) {
						return errStop
					}
				} else if n%replayRoom == 0 && !put(replayItem{kind: replayScanned, p: p, o: rec.Offset + 1}) {
					return errStop
				}
				return nil
			})
			if errors.Is(err, errStop) || c.ctx.Err() != nil {
				return
			}
			if err != nil {
				put(replayItem{kind: replayFailed, err: err})
				return
			}
		}
		if !put(replayItem{kind: replayScanEnd, p: p}) {
			return
		}
	}
	put(replayItem{kind: replayEnd})
}

// matchesAny reports whether the topic name matches one of the filters.
func matchesAny(filters []string, name string) bool {
	for _, f := range filters {
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}

// putReplay hands the loop one replay item, waiting while replayRoom
// deliveries are ahead of the writer. It reports false when the
// connection is ending.
func (c *conn) putReplay(it replayItem) bool {
	counts := it.kind == replayQueued || it.kind == replayScan
	in := &c.in
	for {
		in.mu.Lock()
		if in.closing || in.stopped {
			in.mu.Unlock()
			return false
		}
		if !counts || in.replayQueued < replayRoom {
			if counts {
				in.replayQueued++
			}
			in.replay = append(in.replay, it)
			start := in.kickLocked()
			in.mu.Unlock()
			if start {
				go c.runLoop()
			}
			return true
		}
		if in.room == nil {
			in.room = make(chan struct{}, 1)
		}
		room := in.room
		in.mu.Unlock()
		select {
		case <-room:
		case <-c.ctx.Done():
			return false
		}
	}
}

// replayTaken frees n replay slots: deliveries written, dropped or not
// delivered at all.
func (c *conn) replayTaken(n int) {
	if n == 0 {
		return
	}
	c.in.mu.Lock()
	c.in.replayQueued -= n
	room := c.in.room
	c.in.mu.Unlock()
	if room != nil {
		signal(room)
	}
}

// onReplay acts on one replay item in the loop.
func (c *conn) onReplay(it *replayItem) {
	o := c.out
	switch it.kind {
	case replayResend:
		switch {
		case it.msg == nil:
			o.dropInflight(it.pid)
			c.drop(events.DropRetentionGap, &message{partition: it.p, offset: it.o})
		case !c.readable(it.msg.topic):
			// The rules changed since it was sent: forgotten, as if
			// completed, rather than sent again.
			o.dropInflight(it.pid)
		default:
			m := c.matchSubs(it.msg)
			o.addResend(&delivery{msg: it.msg, qos: it.qos, pid: it.pid, dup: true, subIDs: m.subIDs,
				retain: m.rap && it.msg.retain, replayed: true, link: it.link})
		}
	case replayQueued:
		switch {
		case it.msg == nil:
			o.releaseRef(it.p, it.o)
			c.drop(events.DropRetentionGap, &message{partition: it.p, offset: it.o})
			c.replayTaken(1)
		case !c.readable(it.msg.topic):
			o.releaseRef(it.p, it.o)
			c.replayTaken(1)
		default:
			m := c.matchSubs(it.msg)
			o.addReplay(&delivery{msg: it.msg, qos: it.qos, subIDs: m.subIDs, retain: m.rap && it.msg.retain,
				replayed: true, link: it.link})
		}
	case replayScan:
		o.scanned(it.p, it.o)
		m := c.matchSubs(it.msg)
		if !m.ok || !c.readable(it.msg.topic) {
			c.replayTaken(1)
			return
		}
		o.addReplay(&delivery{msg: it.msg, qos: m.qos, subIDs: m.subIDs, retain: m.rap && it.msg.retain,
			replayed: true, link: it.link})
	case replayScanned:
		o.scanned(it.p, it.o)
	case replayScanEnd:
		o.scanDone(it.p)
	case replayEnd:
		o.replaying = false
	case replayFailed:
		// Without its replay the session would miss messages: the client
		// had better reconnect and try again.
		c.logger().Warn("replay failed", "err", it.err)
		c.kill(errors.Join(ErrKafkaUnavailable, it.err))
	}
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
