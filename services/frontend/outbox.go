package frontend

import (
	"sync"
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

// replayRoom bounds the replayed deliveries read ahead of the writer.
const replayRoom = 256

// batchMax bounds the deliveries one writer round takes, so control packets
// are not held behind a long run of publishes.
const batchMax = 64

// outbox is the outbound state of one connection: control packets, the
// deliveries waiting for the client's Receive Maximum window, the inflight
// window itself, and what holds the session's cursor back.
//
// Locking: mu guards everything below it. offer is called with the router
// lock held, so nothing here may call into the router. No I/O under mu.
type outbox struct {
	mu        sync.Mutex
	ctrl      []mqtt.Packet
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
	maxPending  int
	overflow    bool
	dirty       bool // delivery state changed since the last takeDirty
	// lost holds per partition the lowest offset refused after an
	// overflow, so the cursor never passes a record the session missed.
	lost   map[int]int64
	closed bool

	// aliases maps topics to the aliases the client already knows
	// (writer side); aliasMax is the client's Topic Alias Maximum.
	aliases  map[string]uint16
	aliasMax uint16
	// maxPacket is the client's Maximum Packet Size (0 = none).
	maxPacket int

	signal chan struct{} // wakes the writer; capacity 1
	room   chan struct{} // wakes the replayer; capacity 1
}

func newOutbox(window, maxPending int) *outbox {
	return &outbox{
		inflight:    make(map[uint16]*inflight),
		window:      max(window, 1),
		outstanding: make(map[int]map[int64]struct{}),
		scanPos:     make(map[int]int64),
		maxPending:  maxPending,
		signal:      make(chan struct{}, 1),
		room:        make(chan struct{}, 1),
		replaying:   true,
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (o *outbox) hold(p int, off int64) {
	m := o.outstanding[p]
	if m == nil {
		m = make(map[int64]struct{})
		o.outstanding[p] = m
	}
	m[off] = struct{}{}
}

func (o *outbox) release(d *delivery) {
	if d != nil && d.tracked() {
		delete(o.outstanding[d.msg.partition], d.msg.offset)
	}
	d.finished()
}

// control queues a control packet (ack, SUBACK, PINGRESP, DISCONNECT).
func (o *outbox) control(p mqtt.Packet) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	o.ctrl = append(o.ctrl, p)
	over := len(o.ctrl) > o.maxPending
	o.mu.Unlock()
	wake(o.signal)
	return !over
}

// offer queues a live delivery. It never blocks; when the session is too far
// behind it marks the overflow, which the writer turns into a slow-consumer
// disconnect. A shared delivery is never lost that way: it is refused
// instead (false), as it is by a closed outbox, so that its group gives it
// to another member.
func (o *outbox) offer(d *delivery) bool {
	o.mu.Lock()
	o.dirty = true
	if o.closed || (d.share != nil && (o.overflow || len(o.live) >= o.maxPending)) {
		o.mu.Unlock()
		return false
	}
	if o.overflow || len(o.live) >= o.maxPending {
		o.overflow = true
		if d.tracked() {
			if o.lost == nil {
				o.lost = make(map[int]int64)
			}
			if l, ok := o.lost[d.msg.partition]; !ok || d.msg.offset < l {
				o.lost[d.msg.partition] = d.msg.offset
			}
		}
	} else {
		if d.tracked() {
			o.hold(d.msg.partition, d.msg.offset)
		}
		o.live = append(o.live, d)
	}
	o.mu.Unlock()
	wake(o.signal)
	return true
}

// restore loads a resumed session's inflight window and queue references
// before replay starts, so that the cursor never passes them.
func (o *outbox) restore(st *session.State, sw map[int]int64) {
	o.mu.Lock()
	o.dirty = true
	defer o.mu.Unlock()
	for _, e := range st.Inflight {
		o.inflight[e.PacketID] = &inflight{qos: e.QoS, p: e.Partition, o: e.Offset, state: e.State}
		if e.State == session.InflightPubrec {
			o.ctrl = append(o.ctrl, &mqtt.Pubrel{PacketID: e.PacketID})
		} else {
			o.hold(e.Partition, e.Offset)
		}
	}
	for _, q := range pendingQueue(st) {
		o.hold(q.Partition, q.Offset)
	}
	for p, end := range sw {
		o.scanPos[p] = replayStart(st, p, end)
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
	o.mu.Lock()
	if e := o.inflight[d.pid]; e != nil {
		e.d = d
		o.resend = append(o.resend, d)
	}
	o.mu.Unlock()
	wake(o.signal)
}

// dropInflight forgets a resumed inflight entry whose record is gone.
func (o *outbox) dropInflight(pid uint16) {
	o.mu.Lock()
	o.dirty = true
	if e := o.inflight[pid]; e != nil {
		delete(o.outstanding[e.p], e.o)
		delete(o.inflight, pid)
	}
	o.mu.Unlock()
	wake(o.signal)
}

// addReplay queues a replayed delivery, waiting while the writer is
// replayRoom deliveries behind. It reports false when the outbox closed.
func (o *outbox) addReplay(d *delivery, done <-chan struct{}) bool {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return false
		}
		if len(o.replay) < replayRoom {
			if d.tracked() {
				o.hold(d.msg.partition, d.msg.offset)
			}
			o.replay = append(o.replay, d)
			o.mu.Unlock()
			wake(o.signal)
			return true
		}
		o.mu.Unlock()
		select {
		case <-o.room:
		case <-done:
			return false
		}
	}
}

// releaseRef stops holding the cursor for a queue reference that will not
// be delivered (its record is gone).
func (o *outbox) releaseRef(p int, off int64) {
	o.mu.Lock()
	o.dirty = true
	delete(o.outstanding[p], off)
	o.mu.Unlock()
}

// scanned records that replay of partition p has passed every offset
// below next.
func (o *outbox) scanned(p int, next int64) {
	o.mu.Lock()
	o.dirty = true
	if _, ok := o.scanPos[p]; ok {
		o.scanPos[p] = next
	}
	o.mu.Unlock()
}

// scanDone ends the scan of partition p: live dispatch covers it now.
func (o *outbox) scanDone(p int) {
	o.mu.Lock()
	o.dirty = true
	delete(o.scanPos, p)
	o.mu.Unlock()
}

// replayDone lets the live deliveries through once the replayed ones are sent.
func (o *outbox) replayDone() {
	o.mu.Lock()
	o.replaying = false
	o.mu.Unlock()
	wake(o.signal)
}

// batch is what one writer round sends.
type batch struct {
	pkts  []mqtt.Packet
	sent  []*delivery // written PUBLISHes, for delivery spans
	qos0  []*delivery // complete once written
	q2out []*inflightRef
	drops []dropped
	slow  bool
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

// take collects the next packets to write: control packets, then resent
// inflight messages, then replayed or live deliveries while the client's
// Receive Maximum leaves room.
func (o *outbox) take(now time.Time) batch {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b batch
	if o.overflow {
		b.slow = true
		return b
	}
	return o.takeLocked(b, now)
}

// takeControl returns only the queued control packets (after an overflow).
func (o *outbox) takeControl() batch {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := batch{pkts: o.ctrl}
	o.ctrl = nil
	return b
}

func (o *outbox) takeLocked(b batch, now time.Time) batch {
	b.pkts = o.ctrl
	o.ctrl = nil
	for _, d := range o.resend {
		b.pkts = append(b.pkts, o.publish(d, d.pid, now))
		b.sent = append(b.sent, d)
	}
	o.resend = nil
	sent := 0
	tookReplay := false
	for sent < batchMax {
		var d *delivery
		switch {
		case len(o.replay) > 0:
			d = o.replay[0]
		case !o.replaying && len(o.live) > 0:
			d = o.live[0]
		}
		if d == nil {
			break
		}
		if d.qos > 0 && o.windowFull() {
			break
		}
		if len(o.replay) > 0 {
			o.replay[0] = nil
			o.replay = o.replay[1:]
			tookReplay = true
		} else {
			o.live[0] = nil
			o.live = o.live[1:]
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
			o.inflight[pid] = e
			if d.qos == 2 && d.tracked() {
				b.q2out = append(b.q2out, &inflightRef{pid: pid, p: e.p, o: e.o})
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
	if tookReplay {
		wake(o.room)
	}
	if sent == batchMax {
		wake(o.signal) // more may be waiting
	}
	if len(b.pkts) > 0 || len(b.drops) > 0 {
		o.dirty = true
	}
	return b
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

// publish builds the PUBLISH of d. Called with mu held (topic aliases).
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
func (o *outbox) written(b *batch) {
	if len(b.qos0) == 0 {
		return
	}
	o.mu.Lock()
	o.dirty = true
	for _, d := range b.qos0 {
		o.release(d)
	}
	o.mu.Unlock()
}

// puback completes a QoS 1 delivery.
func (o *outbox) puback(pid uint16) {
	o.mu.Lock()
	o.dirty = true
	if e := o.inflight[pid]; e != nil && e.qos == 1 {
		ackDelivery(e.d, "puback", true, 0)
		delete(o.inflight, pid)
		delete(o.outstanding[e.p], e.o)
		e.d.finished()
	}
	o.mu.Unlock()
	wake(o.signal)
}

// pubrec moves a QoS 2 delivery to its second phase. It reports whether the
// caller must log the new state and then answer with PUBREL (release); an
// unknown id is answered at once, a failure code ends the exchange.
func (o *outbox) pubrec(pid uint16, rc mqtt.ReasonCode) (release bool) {
	o.mu.Lock()
	o.dirty = true
	e := o.inflight[pid]
	switch {
	case e == nil || e.qos != 2:
		if !rc.IsError() {
			// Unknown id: still answer so the client can finish.
			o.ctrl = append(o.ctrl, &mqtt.Pubrel{PacketID: pid, ReasonCode: mqtt.PacketIdentifierNotFound})
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
	o.mu.Unlock()
	wake(o.signal)
	return release
}

// pubcomp ends a QoS 2 delivery and frees its packet id.
func (o *outbox) pubcomp(pid uint16) {
	o.mu.Lock()
	o.dirty = true
	if e := o.inflight[pid]; e != nil && e.qos == 2 && e.state == session.InflightPubrec && !e.done {
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
	o.mu.Unlock()
	wake(o.signal)
}

// progress computes the session's cursor and inflight list from the router
// positions pos (read before, so every record below them was offered).
func (o *outbox) progress(pos map[int]int64) (map[int]int64, []session.Inflight) {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur := make(map[int]int64, len(pos))
	for p, n := range pos {
		cur[p] = n
	}
	for p, n := range o.scanPos {
		cur[p] = n
	}
	for p, off := range o.lost {
		if c, ok := cur[p]; !ok || off < c {
			cur[p] = off
		}
	}
	for p, offs := range o.outstanding {
		for off := range offs {
			if c, ok := cur[p]; !ok || off < c {
				cur[p] = off
			}
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

// hasRoom reports whether the client's window has room and little is
// queued, and the outbox still takes deliveries: shared deliveries prefer
// such members.
func (o *outbox) hasRoom() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.closed && !o.overflow && !o.windowFull() && len(o.live) < o.window
}

// unfinishedShared returns the shared deliveries not yet finished: queued,
// or sent and not acknowledged. Called once the outbox is closed.
func (o *outbox) unfinishedShared() []*delivery {
	o.mu.Lock()
	defer o.mu.Unlock()
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

// takeDirty reports whether the delivery state changed since the last call.
func (o *outbox) takeDirty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.dirty
	o.dirty = false
	return d
}

// close stops all queuing; the replayer and the writer end.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	wake(o.signal)
	wake(o.room)
}
