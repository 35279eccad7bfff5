package frontend

import (
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// delivery is one message on its way to one session.
type delivery struct {
	msg    *message
	qos    byte
	retain bool
	subIDs []uint32
	// pid is set for a resent inflight message (DUP, same packet id).
	pid uint16
	dup bool
	// live marks a delivery counted in the inbox's liveQueued.
	live bool
	// share is set for a shared-subscription delivery: it is finished
	// through its group, and is no part of the session's cursor.
	share *shareGroup
	// span is the delivery span from the write until the acknowledgement
	// (see trace.go); replayed and link mark a delivery of session replay.
	span     trace.Span
	replayed bool
	link     trace.SpanContext
}

// tracked reports whether the delivery holds back the session's cursor: only
// records of the messages topic do (retained copies have no place in it).
func (d *delivery) tracked() bool { return d.msg.offset >= 0 && d.share == nil }

// finished tells a shared delivery's group that it is done.
func (d *delivery) finished() {
	if d != nil && d.share != nil {
		d.share.complete(d.msg.partition, d.msg.offset)
	}
}

// inflight is an outbound QoS 1/2 message awaiting its acknowledgement.
type inflight struct {
	d     *delivery // nil while a resumed entry waits to be read back
	qos   byte
	p     int
	o     int64
	state string // session.InflightSent or session.InflightPubrec
	// done marks a QoS 2 message the client completed (PUBCOMP) while the
	// cursor is still at or below it: it keeps its packet id and is still
	// logged as pubrec, so a resumed session neither delivers it again
	// (duplicate with a new id) nor forgets it; it leaves once the cursor
	// passes it. It no longer counts against the Receive Maximum window.
	done bool
	span trace.Span // delivery span of a QoS 2 message past PUBREC
}

// batchMax bounds the deliveries one turn of the loop writes, so a long run
// of publishes does not hold up the loop's other work.
const batchMax = 64

// outbox is the outbound state of one session: the deliveries waiting for
// the client's Receive Maximum window, the inflight window itself, and what
// holds the session's cursor back. It belongs to the connection's loop.
type outbox struct {
	resend    []*delivery // resumed inflight messages, first of all
	replay    []*delivery
	live      []*delivery
	replaying bool
	inflight  map[uint16]*inflight
	held      int // entries of inflight with done set
	window    int
	nextPID   uint16
	// outstanding holds per partition the offsets queued or sent and not
	// complete; scanPos the replay scan position of partitions still being
	// scanned. Together with the router positions they give the cursor.
	outstanding map[int]map[int64]struct{}
	scanPos     map[int]int64
	// floor is the cursor the session service holds (at attach, then as
	// logged): progress never reports less. A delivery offered from
	// before the subscription's read (router.joinRecent) may sit below
	// it; replaying from lower would send again what was acknowledged.
	floor map[int]int64
	// guard, after a resume, keeps live dispatch from repeating what the
	// session had (nil once the router has passed it).
	guard *repeatGuard
	dirty bool // delivery state changed since the last progress

	// aliases maps topics to the aliases the client already knows;
	// aliasMax is the client's Topic Alias Maximum.
	aliases  map[string]uint16
	aliasMax uint16
	// maxPacket is the client's Maximum Packet Size (0 = none).
	maxPacket int
}

// newOutbox returns an empty outbox. Its maps are made when first written:
// most connections idle, and an idle one should cost little.
func newOutbox(window int) *outbox {
	return &outbox{window: max(window, 1), replaying: true}
}

func (o *outbox) hold(p int, off int64) {
	m := o.outstanding[p]
	if m == nil {
		if o.outstanding == nil {
			o.outstanding = make(map[int]map[int64]struct{})
		}
		m = make(map[int64]struct{})
		o.outstanding[p] = m
	}
	m[off] = struct{}{}
}

// addInflight puts e in the inflight window under pid.
func (o *outbox) addInflight(pid uint16, e *inflight) {
	if o.inflight == nil {
		o.inflight = make(map[uint16]*inflight)
	}
	o.inflight[pid] = e
}

func (o *outbox) release(d *delivery) {
	o.dirty = true
	if d != nil && d.tracked() {
		delete(o.outstanding[d.msg.partition], d.msg.offset)
	}
	d.finished()
}

// addLive queues a live delivery; it holds the cursor until it is done. It
// reports false, queueing nothing, for a delivery the resumed session had
// already (repeatGuard).
func (o *outbox) addLive(d *delivery) bool {
	if o.guard.repeats(d) {
		return false
	}
	o.dirty = true
	if d.tracked() {
		o.hold(d.msg.partition, d.msg.offset)
	}
	o.live = append(o.live, d)
	return true
}

// addReplay queues a replayed delivery.
func (o *outbox) addReplay(d *delivery) {
	o.dirty = true
	if d.tracked() {
		o.hold(d.msg.partition, d.msg.offset)
	}
	o.replay = append(o.replay, d)
}

// restore loads a resumed session's inflight window and queue references
// before replay starts, so that the cursor never passes them. It returns
// the PUBRELs due for the entries past PUBREC.
func (o *outbox) restore(st *session.State, sw map[int]int64) []mqtt.Packet {
	o.dirty = true
	var rels []mqtt.Packet
	for _, e := range st.Inflight {
		o.addInflight(e.PacketID, &inflight{qos: e.QoS, p: e.Partition, o: e.Offset, state: e.State})
		if e.State == session.InflightPubrec {
			rels = append(rels, &mqtt.Pubrel{PacketID: e.PacketID})
		} else {
			o.hold(e.Partition, e.Offset)
		}
	}
	pending := pendingQueue(st)
	for _, q := range pending {
		o.hold(q.Partition, q.Offset)
	}
	if len(sw) > 0 {
		o.scanPos = make(map[int]int64, len(sw))
	}
	for p, end := range sw {
		o.scanPos[p] = replayStart(st, p, end)
	}
	o.guard = newRepeatGuard(st, pending, sw)
	o.logged(st.Cursor)
	return rels
}

// logged raises the floor to a cursor the session service now holds.
func (o *outbox) logged(cur map[int]int64) {
	for p, n := range cur {
		if f, ok := o.floor[p]; !ok || n > f {
			if o.floor == nil {
				o.floor = make(map[int]int64, len(cur))
			}
			o.floor[p] = n
		}
	}
}

// pendingQueue returns the offline queue references still to deliver: a
// reference below the cursor was completed (delivered live before the
// session service queued it) and one that is inflight is resent as such;
// delivering either again would duplicate it.
func pendingQueue(st *session.State) []session.QueueRef {
	infl := make(map[[2]int64]bool, len(st.Inflight))
	for _, e := range st.Inflight {
		infl[[2]int64{int64(e.Partition), e.Offset}] = true
	}
	var out []session.QueueRef
	for _, q := range st.Queue {
		k := [2]int64{int64(q.Partition), q.Offset}
		if c, ok := st.Cursor[q.Partition]; ok && q.Offset < c {
			continue
		}
		if infl[k] {
			continue
		}
		infl[k] = true // and no reference twice
		out = append(out, q)
	}
	return out
}

// replayStart is where the log scan of partition p begins:
// max(cursor, qfrom), or end when the session has neither (nothing to
// replay).
func replayStart(st *session.State, p int, end int64) int64 {
	c, okC := st.Cursor[p]
	q, okQ := st.QueueFrom[p]
	switch {
	case okC && okQ:
		return min(max(c, q), end)
	case okC:
		return min(c, end)
	case okQ:
		return min(q, end)
	}
	return end
}

// addResend puts a resumed inflight message back with its packet id.
func (o *outbox) addResend(d *delivery) {
	if e := o.inflight[d.pid]; e != nil {
		e.d = d
		o.resend = append(o.resend, d)
	}
}

// dropInflight forgets a resumed inflight entry that will not be sent
// again (its record is gone, or the ACL now refuses it).
func (o *outbox) dropInflight(pid uint16) {
	o.dirty = true
	if e := o.inflight[pid]; e != nil {
		delete(o.outstanding[e.p], e.o)
		delete(o.inflight, pid)
	}
}

// releaseRef stops holding the cursor for a queue reference that will not
// be delivered.
func (o *outbox) releaseRef(p int, off int64) {
	o.dirty = true
	delete(o.outstanding[p], off)
}

// scanned records that replay of partition p has passed every offset
// below next.
func (o *outbox) scanned(p int, next int64) {
	o.dirty = true
	if _, ok := o.scanPos[p]; ok {
		o.scanPos[p] = next
	}
}

// scanDone ends the scan of partition p: live dispatch covers it now.
func (o *outbox) scanDone(p int) {
	o.dirty = true
	delete(o.scanPos, p)
	if len(o.scanPos) == 0 {
		o.scanPos = nil // the scan is over: let the map go
	}
}

// writeBatch is what one turn of the loop writes of the deliveries.
type writeBatch struct {
	// liveLeft and replayLeft count the live and replayed deliveries that
	// left the outbox (written or dropped), for the inbox's bounds.
	liveLeft, replayLeft int

	pkts  []mqtt.Packet
	sent  []*delivery // written PUBLISHes, for delivery spans
	qos0  []*delivery // complete once written
	q2out []inflightRef
	drops []dropped
}

type inflightRef struct {
	pid uint16
	p   int
	o   int64
}

type dropped struct {
	reason events.DropReason
	msg    *message
}

// take collects the next PUBLISHes to write: resent inflight messages, then
// replayed or live deliveries while the client's Receive Maximum leaves
// room. allowed says whether the session may read a delivery's topic now
// (invariant 10); a refused one is dropped from the stream as if done.
func (o *outbox) take(now time.Time, allowed func(*delivery) bool) writeBatch {
	var b writeBatch
	for _, d := range o.resend {
		b.pkts = append(b.pkts, o.publish(d, d.pid, now))
		b.sent = append(b.sent, d)
	}
	o.resend = nil
	sent := 0
	for sent < batchMax {
		d := o.next()
		if d == nil {
			break
		}
		if d.qos > 0 && o.windowFull() {
			break
		}
		if len(o.replay) > 0 {
			o.replay[0] = nil
			o.replay = o.replay[1:]
			b.replayLeft++
		} else {
			o.live[0] = nil
			o.live = o.live[1:]
			if d.live {
				b.liveLeft++
			}
		}
		if !allowed(d) {
			o.release(d)
			continue
		}
		if d.msg.expired(now) {
			o.release(d)
			b.drops = append(b.drops, dropped{events.DropExpired, d.msg})
			continue
		}
		var pid uint16
		if d.qos > 0 {
			pid = o.allocPID()
		}
		pub := o.publish(d, pid, now)
		if o.maxPacket > 0 && mqtt.PacketSize(pub, mqtt.V5) > o.maxPacket {
			// [MQTT-3.1.2-25]: discard as if delivered.
			o.release(d)
			b.drops = append(b.drops, dropped{events.DropPacketTooLarge, d.msg})
			continue
		}
		if d.qos > 0 {
			e := &inflight{d: d, qos: d.qos, p: d.msg.partition, o: d.msg.offset, state: session.InflightSent}
			if !d.tracked() {
				e.o = -1 // retained copy or shared delivery: not logged as inflight
			}
			o.addInflight(pid, e)
			if d.qos == 2 && d.tracked() {
				b.q2out = append(b.q2out, inflightRef{pid: pid, p: e.p, o: e.o})
			}
		} else {
			b.qos0 = append(b.qos0, d)
		}
		b.pkts = append(b.pkts, pub)
		b.sent = append(b.sent, d)
		sent++
	}
	if len(o.live) == 0 && cap(o.live) > 64 {
		o.live = nil // let a burst's backing array go
	}
	if len(o.replay) == 0 && cap(o.replay) > 64 {
		o.replay = nil
	}
	if len(b.pkts) > 0 || len(b.drops) > 0 {
		o.dirty = true
	}
	return b
}

// owesNothing reports whether nothing is queued, in flight, held or
// being scanned: no delivery state that a cursor would have to keep.
func (o *outbox) owesNothing() bool {
	if o.queued() > 0 || len(o.inflight) > 0 || len(o.scanPos) > 0 {
		return false
	}
	for _, offs := range o.outstanding {
		if len(offs) > 0 {
			return false
		}
	}
	return true
}

// more reports whether deliveries are waiting that the window lets through.
func (o *outbox) more() bool {
	if len(o.resend) > 0 {
		return true
	}
	next := o.next()
	return next != nil && (next.qos == 0 || !o.windowFull())
}

// next is the delivery to write next: replayed ones first, live ones once
// the replay is over; nil when none is waiting.
func (o *outbox) next() *delivery {
	switch {
	case len(o.replay) > 0:
		return o.replay[0]
	case !o.replaying && len(o.live) > 0:
		return o.live[0]
	}
	return nil
}

func (o *outbox) windowFull() bool {
	return len(o.inflight)-o.held >= o.window || len(o.inflight) >= 65535
}

// allocPID returns a packet id not in use; the caller checked the window,
// which is at most 65535, so one is free.
func (o *outbox) allocPID() uint16 {
	for {
		o.nextPID++
		if o.nextPID == 0 {
			o.nextPID = 1
		}
		if _, used := o.inflight[o.nextPID]; !used {
			return o.nextPID
		}
	}
}

// publish builds the PUBLISH of d, with a topic alias where the client
// allows them.
func (o *outbox) publish(d *delivery, pid uint16, now time.Time) *mqtt.Publish {
	m := d.msg
	p := &mqtt.Publish{
		Dup:        d.dup,
		QoS:        d.qos,
		Retain:     d.retain,
		Topic:      m.topic,
		PacketID:   pid,
		Payload:    m.payload,
		Properties: m.props,
	}
	p.Properties.SubscriptionIDs = d.subIDs
	if m.expires != 0 {
		left := (m.expires - now.UnixMilli() + 999) / 1000
		p.Properties.MessageExpiry = mqtt.Ptr(uint32(max(left, 1)))
	}
	if o.aliasMax > 0 {
		if a, ok := o.aliases[m.topic]; ok {
			p.Topic = ""
			p.Properties.TopicAlias = mqtt.Ptr(a)
		} else if uint16(len(o.aliases)) < o.aliasMax {
			if o.aliases == nil {
				o.aliases = make(map[string]uint16)
			}
			a := uint16(len(o.aliases) + 1)
			o.aliases[m.topic] = a
			p.Properties.TopicAlias = mqtt.Ptr(a)
		}
	}
	return p
}

// written completes the QoS 0 deliveries of a batch that reached the socket.
func (o *outbox) written(b *writeBatch) {
	for _, d := range b.qos0 {
		o.release(d)
	}
}

// puback completes a QoS 1 delivery; it returns it (nil for an unknown id).
func (o *outbox) puback(pid uint16) *delivery {
	e := o.inflight[pid]
	if e == nil || e.qos != 1 {
		return nil
	}
	o.dirty = true
	ackDelivery(e.d, "puback", true, 0)
	delete(o.inflight, pid)
	delete(o.outstanding[e.p], e.o)
	e.d.finished()
	return e.d
}

// pubrec moves a QoS 2 delivery to its second phase. release says the
// caller must log the new state and then answer with PUBREL; answer, when
// set, is to be sent at once (an unknown id is still answered so the client
// can finish); a failure code ends the exchange.
func (o *outbox) pubrec(pid uint16, rc mqtt.ReasonCode) (release bool, answer mqtt.Packet) {
	o.dirty = true
	e := o.inflight[pid]
	switch {
	case e == nil || e.qos != 2:
		if !rc.IsError() {
			answer = &mqtt.Pubrel{PacketID: pid, ReasonCode: mqtt.PacketIdentifierNotFound}
		}
	case rc.IsError():
		ackDelivery(e.d, "pubrec", true, rc)
		delete(o.inflight, pid)
		delete(o.outstanding[e.p], e.o)
		e.d.finished()
	case e.state == session.InflightPubrec:
		release = true // a repeated PUBREC: the state is logged already
	default:
		e.state = session.InflightPubrec
		ackDelivery(e.d, "pubrec", false, 0)
		e.span, e.d.span = spanOf(e.d), nil
		e.d.finished()
		e.d = nil
		delete(o.outstanding[e.p], e.o)
		release = true
	}
	return release, answer
}

// pubcomp ends a QoS 2 delivery and frees its packet id.
func (o *outbox) pubcomp(pid uint16) {
	e := o.inflight[pid]
	if e == nil || e.qos != 2 || e.state != session.InflightPubrec || e.done {
		return
	}
	o.dirty = true
	if e.span != nil {
		e.span.AddEvent("pubcomp")
		e.span.End()
		e.span = nil
	}
	if e.o >= 0 {
		e.done = true
		o.held++
	} else {
		delete(o.inflight, pid)
	}
}

// progress computes the session's cursor and inflight list from the router
// positions pos (read before, so every record below them was offered) and
// the offsets lost to an overflow.
func (o *outbox) progress(pos, lost map[int]int64) (map[int]int64, []session.Inflight) {
	if o.guard != nil && o.guard.passed(pos) {
		o.guard = nil
	}
	cur := make(map[int]int64, len(pos))
	for p, n := range pos {
		cur[p] = n
	}
	for p, n := range o.scanPos {
		cur[p] = n
	}
	lower := func(p int, off int64) {
		if c, ok := cur[p]; !ok || off < c {
			cur[p] = off
		}
	}
	for p, off := range lost {
		lower(p, off)
	}
	for p, offs := range o.outstanding {
		for off := range offs {
			lower(p, off)
		}
	}
	for p, f := range o.floor {
		if c, ok := cur[p]; ok && c < f {
			cur[p] = f
		}
	}
	var infl []session.Inflight
	for pid, e := range o.inflight {
		if e.o < 0 {
			continue
		}
		if e.done {
			if c, ok := cur[e.p]; !ok || e.o < c {
				delete(o.inflight, pid) // the cursor passed it
				o.held--
				continue
			}
		}
		infl = append(infl, session.Inflight{PacketID: pid, Partition: e.p, Offset: e.o, QoS: e.qos, State: e.state})
	}
	return cur, infl
}

// unfinishedShared returns the shared deliveries not yet finished: queued,
// or sent and not acknowledged.
func (o *outbox) unfinishedShared() []*delivery {
	var out []*delivery
	for _, d := range o.live {
		if d.share != nil {
			out = append(out, d)
		}
	}
	for _, e := range o.inflight {
		if e.d != nil && e.d.share != nil && e.state == session.InflightSent {
			out = append(out, e.d)
		}
	}
	return out
}

// queued is the number of deliveries waiting to be written.
func (o *outbox) queued() int { return len(o.live) + len(o.replay) + len(o.resend) }

// unacked is the number of deliveries written and not yet acknowledged.
func (o *outbox) unacked() int { return len(o.inflight) - o.held }
