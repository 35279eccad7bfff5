package sessiond

import (
	"slices"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// MQTT reason codes the server sends when it ends a connection: taken
// over by another with the same ClientID (MQTT 5 Session taken over), and
// ended by an operator (Administrative action).
const (
	codeTakenOver      = 0x8E
	codeAdministrative = 0x98
)

// Results of deciding an op, for metrics.
const (
	resultApplied = "applied"
	resultStale   = "stale"
)

// Session states, for metrics.
const (
	stateNone    = "none"
	stateOnline  = "online"
	stateOffline = "offline"
)

func stateOf(m *session.Meta) string {
	switch {
	case m == nil:
		return stateNone
	case m.Online:
		return stateOnline
	}
	return stateOffline
}

// outcome is what one op does: events (in the batch), Redis changes, and
// moves in or out of the offline queue index.
type outcome struct {
	tx func(*session.Tx)
	// leave: the session is no longer an offline persistent session; it
	// leaves the queue index before the Redis change is applied, so no
	// queue write can land after it.
	leave bool
	// state is the session's state after the op; empty: unchanged.
	state  string
	result string
	// meta and qfrom are what tx writes to the session hash and the queue
	// start, when it writes them (kept for inspection).
	meta  *session.Meta
	qfrom map[int]int64
	// wills are the wills the op publishes; their events are in the batch.
	wills []willPub
}

// input is the view of one client before an op: meta is nil when no
// session exists; cursor and qfrom are loaded for disconnect ops only.
type input struct {
	meta   *session.Meta
	cursor map[int]int64
	qfrom  map[int]int64
	// incDown says the connect's frontend incarnation was declared down in
	// this partition before the connect was logged.
	incDown bool
	// parent and state are the W3C trace context of the op's record: a
	// connect's is kept with its will.
	parent, state string

	// Overlay bookkeeping (see run.go): loaded says cursor and qfrom are
	// known; delta holds cursor changes of the run made before they were;
	// queued says the session went offline in the run (queue for it).
	loaded bool
	delta  map[int]int64
	queued bool
}

// decide works out one op's effects from the view before it. It is pure
// (no I/O), so the same op on the same view always yields the same events
// and changes: what makes re-processing and rebuilds safe.
//
// follow gives the queue follower's position per messages partition, used
// as the queue start for partitions with no cursor.
func (s *Service) decide(b *batch, op *session.Op, in input, follow map[int]int64) outcome {
	cid := op.ClientID
	m := in.meta
	switch op.Kind {
	case session.OpConnect:
		return s.decideConnect(b, op, in)
	case session.OpRejected:
		b.add(events.ClientConnectRejected, op.Node, cid, &events.ConnectRejected{
			ClientID: cid, ConnID: op.Conn, Node: op.Node, Epoch: b.offset, Proto: int(op.Proto),
			ConnAck: int(op.Connack), Reason: op.Reason, Peer: op.Peer, Username: op.Username,
		})
		return outcome{result: resultApplied}
	case session.OpDrop:
		// A drop by a frontend is a fact whatever the epoch: announce it.
		epoch, proto := op.Epoch, 0
		if m != nil {
			proto = int(m.Proto)
		}
		n := int64(op.Count)
		if n <= 0 {
			n = 1
		}
		b.add(events.SessionMessageDropped, op.Node, cid, &events.MessageDropped{
			Session: events.Session{ClientID: cid, ConnID: op.Conn, Node: op.Node, Epoch: epoch, Proto: proto},
			Reason:  events.DropReason(op.Reason), Topic: op.Topic, Partition: op.Partition, From: op.Offset, To: op.Offset + n, Count: n,
		})
		return outcome{result: resultApplied}
	case session.OpExpire:
		if m == nil || m.Epoch != op.Epoch || m.Online {
			return outcome{result: resultStale}
		}
		wills := s.supersededEnd(b, cid, m, s.cfg.Node)
		if pending(m) {
			// The session ends before the will's delay did [MQTT-3.1.2-8].
			wills = append(wills, s.publishWill(b, cid, m, s.cfg.Node, events.WillSessionEnded))
		}
		b.add(events.SessionTerminated, s.cfg.Node, cid, &events.Terminated{
			Session: sess(m, cid, "", s.cfg.Node), Reason: events.TerminateExpired,
		})
		return outcome{leave: true, tx: func(tx *session.Tx) { releaseGone(tx, cid, m, nil); tx.Delete(cid) },
			state: stateNone, result: resultApplied, wills: wills}
	case session.OpAdminDiscard:
		return s.decideAdminDiscard(b, op, m)
	case session.OpAdminUnsubscribe:
		return s.decideAdminUnsubscribe(b, op, m)
	case session.OpWill:
		return s.decideWill(b, op, m)
	case session.OpDisconnect:
		if i := supersededAt(m, op.Epoch); i >= 0 {
			return s.settleSuperseded(b, op, m, i)
		}
	}

	// Every other op belongs to the connection at the session's epoch;
	// an older epoch is a late op of a connection already replaced (its
	// end, if it was a disconnect, was announced at the takeover).
	if m == nil || op.Epoch != m.Epoch || !m.Online {
		return outcome{result: resultStale}
	}
	touch := func(f func(*session.Tx)) func(*session.Tx) {
		return func(tx *session.Tx) { f(tx); tx.Touch(cid) }
	}
	switch op.Kind {
	case session.OpSubscribe:
		b.add(events.SessionSubscribed, op.Node, cid, &events.Subscribed{
			Session: sess(m, cid, op.Conn, op.Node), Subscriptions: toEventSubs(op.Subs),
		})
		return outcome{tx: touch(func(tx *session.Tx) { tx.PutSubs(cid, op.Subs...); tx.SeedCursor(cid, op.Cursor) }), result: resultApplied}
	case session.OpUnsubscribe:
		b.add(events.SessionUnsubscribed, op.Node, cid, &events.Unsubscribed{
			Session: sess(m, cid, op.Conn, op.Node), Filters: op.Filters,
		})
		return outcome{tx: touch(func(tx *session.Tx) { tx.DelSubs(cid, op.Filters...) }), result: resultApplied}
	case session.OpProgress:
		return outcome{tx: touch(func(tx *session.Tx) {
			tx.MergeCursor(cid, op.Cursor)
			tx.ReplaceInflight(cid, op.Inflight)
		}), result: resultApplied}
	case session.OpQoS2Out:
		return outcome{tx: touch(func(tx *session.Tx) {
			tx.PutInflight(cid, session.Inflight{PacketID: op.PacketID, Partition: op.Partition, Offset: op.Offset, QoS: 2, State: session.InflightSent})
		}), result: resultApplied}
	case session.OpQoS2In:
		return outcome{tx: touch(func(tx *session.Tx) { tx.AddQoS2In(cid, op.PacketID) }), result: resultApplied}
	case session.OpQoS2Rel:
		return outcome{tx: touch(func(tx *session.Tx) { tx.DelQoS2In(cid, op.PacketID) }), result: resultApplied}
	case session.OpDisconnect:
		return s.decideDisconnect(b, op, in, follow)
	case session.OpAdminDisconnect:
		// As if the connection's frontend had logged it: the frontend
		// that closes the connection logs a disconnect that is then
		// stale, as after a takeover.
		kick := *op
		kick.Reason, kick.Code, kick.Expiry = string(events.DisconnectAdministrative), codeAdministrative, m.Expiry
		kick.Conn, kick.Node = m.Conn, m.Node
		return s.decideDisconnect(b, &kick, in, follow)
	}
	s.log.Warn("unknown session op kind; skipped", "kind", op.Kind, "partition", b.partition, "offset", b.offset)
	return outcome{result: resultStale}
}

// decideConnect implements the connect rows of the lifecycle tables: the
// previous connection (if online) is announced disconnected first, then
// the old session ends or is resumed, then the new connection is
// announced. The connect's offset is its epoch.
func (s *Service) decideConnect(b *batch, op *session.Op, in input) outcome {
	if in.incDown {
		// Logged by a frontend the cluster has declared dead (cut off, or
		// paused, past the node timeout): it will close the connection
		// when it learns so, and the connection must not own the session
		// meanwhile, nor become one nobody will ever declare down.
		return outcome{result: resultStale}
	}
	cid := op.ClientID
	old := in.meta
	epoch := b.offset
	ts := op.TS
	expiry := s.cfg.expiry(op.Proto, op.Clean, op.Expiry)
	present := false
	var (
		wills      []willPub
		superseded []session.SupersededWill
	)
	if old != nil {
		superseded = slices.Clone(old.Superseded)
		expired := !old.Online && old.ExpiresAt > 0 && old.ExpiresAt <= ts
		// The old connection's will, settled right after its end.
		oldWill := func() {
			switch {
			case old.Will == nil:
			case old.Online && old.Will.Delay == 0:
				// Owed only if the connection got its CONNACK, which its
				// frontend alone knows: held until it says how it ended.
				superseded = append(superseded, session.SupersededWill{Epoch: old.Epoch, Conn: old.Conn, Node: old.Node,
					Inc: old.Inc, Proto: old.Proto, Will: old.Will, Parent: old.WillParent, State: old.WillState,
					Due: ts + s.supersededWait().Milliseconds()})
			case !old.Online && !pending(old):
			case !old.Online && old.WillDue <= ts:
				// Due before this connect; its will op has not come round.
				trigger := events.WillDelayElapsed
				if expired && old.WillDue >= old.ExpiresAt {
					trigger = events.WillSessionEnded
				}
				wills = append(wills, s.publishWill(b, cid, old, s.cfg.Node, trigger))
			default:
				// A new connection within the Will Delay Interval
				// [MQTT-3.1.3-9].
				b.add(events.SessionWillCancelled, op.Node, cid, &events.WillCancelled{
					Session: events.Session{ClientID: cid, ConnID: op.Conn, Node: op.Node, Epoch: epoch, Proto: int(op.Proto)},
					Topic:   old.Will.Topic, WillConnID: old.Conn, WillDelay: old.Will.Delay,
				})
			}
		}
		if !old.Online {
			oldWill()
		}
		switch {
		case expired:
			// The expire op has not come round yet; the session is gone
			// all the same.
			b.add(events.SessionTerminated, s.cfg.Node, cid, &events.Terminated{
				Session: sess(old, cid, "", s.cfg.Node), Reason: events.TerminateExpired,
			})
		case old.Online && old.Resumable() && !op.Clean:
			b.add(events.ClientDisconnected, old.Node, cid, disconnected(old, cid, events.DisconnectTakenOver, codeTakenOver, ts))
			oldWill()
			present = true
		case old.Online:
			b.add(events.ClientDisconnected, old.Node, cid, disconnected(old, cid, events.DisconnectDiscarded, codeTakenOver, ts))
			oldWill()
			reason := events.TerminateConflict
			if old.Resumable() {
				reason = events.TerminateDiscarded
			}
			b.add(events.SessionTerminated, op.Node, cid, &events.Terminated{Session: sess(old, cid, op.Conn, op.Node), Reason: reason})
		case op.Clean:
			b.add(events.SessionTerminated, op.Node, cid, &events.Terminated{
				Session: sess(old, cid, op.Conn, op.Node), Reason: events.TerminateDiscarded,
			})
		default:
			present = true
		}
	}
	m := &session.Meta{
		Epoch: epoch, Conn: op.Conn, Node: op.Node, Online: true, Clean: op.Clean, Proto: op.Proto,
		Expiry: expiry, Present: present, Created: ts, Since: ts, Inc: op.Inc, Will: op.Will,
		Username: op.Username, Peer: op.Peer, Keepalive: op.Keepalive, Superseded: superseded,
	}
	if op.Will != nil {
		m.WillParent, m.WillState = in.parent, in.state
	}
	if present {
		m.Created = old.Created
		b.add(events.SessionResumed, op.Node, cid, &events.Resumed{Session: sess(m, cid, op.Conn, op.Node), ExpiryInterval: expiry})
	} else {
		b.add(events.SessionCreated, op.Node, cid, &events.Created{Session: sess(m, cid, op.Conn, op.Node), CleanStart: op.Clean, ExpiryInterval: expiry})
	}
	b.add(events.ClientConnected, op.Node, cid, &events.Connected{
		Connection: connection(m, cid), CleanStart: op.Clean, SessionPresent: present, ExpiryInterval: expiry,
		KeepAlive: op.Keepalive, Peer: op.Peer, Username: op.Username,
	})
	return outcome{
		leave: true,
		state: stateOnline,
		meta:  m,
		tx: func(tx *session.Tx) {
			if !present {
				tx.Discard(cid)
			}
			releaseGone(tx, cid, old, m)
			tx.PutSession(cid, m)
			tx.Hold(cid, m.Inc, m.Node)
		},
		result: resultApplied,
		wills:  wills,
	}
}

// decideDisconnect ends the connection; a session that ends with it is
// deleted, a persistent one goes offline with its queue restarting at the
// cursor. The connection's will is published unless the client sent
// DISCONNECT 0x00 [MQTT-3.14.4-3]: at once, or when its delay passes or
// the session ends, whichever comes first [MQTT-3.1.2-8].
func (s *Service) decideDisconnect(b *batch, op *session.Op, in input, follow map[int]int64) outcome {
	cid := op.ClientID
	old := in.meta
	reason := events.DisconnectReason(op.Reason)
	if reason == "" {
		reason = events.DisconnectClosed // a frontend that names no reason saw the socket end
	}
	d := disconnected(old, cid, reason, op.Code, op.TS)
	d.Operator = op.By
	b.add(events.ClientDisconnected, op.Node, cid, d)
	expiry := old.Expiry
	if old.Proto >= 5 {
		// MQTT 5 may change the expiry at DISCONNECT; the op carries the
		// effective value.
		expiry = s.cfg.expiry(old.Proto, old.Clean, op.Expiry)
	}
	will := old.Will
	if (reason == events.DisconnectNormal && op.Code == 0) || op.Unaccepted {
		will = nil
	}
	var wills []willPub
	if expiry == 0 {
		wills = s.supersededEnd(b, cid, old, op.Node)
		if will != nil {
			trigger := events.WillSessionEnded
			if will.Delay == 0 {
				trigger = events.WillConnectionEnded
			}
			wills = append(wills, s.publishWill(b, cid, old, op.Node, trigger))
		}
		terminated := events.TerminateNormal
		switch reason {
		case events.DisconnectAdministrative:
			terminated = events.TerminateAdministrative
		case events.DisconnectNodeDown:
			terminated = events.TerminateNodeDown
		}
		b.add(events.SessionTerminated, op.Node, cid, &events.Terminated{
			Session: sess(old, cid, op.Conn, op.Node), Reason: terminated, Operator: op.By,
		})
		return outcome{tx: func(tx *session.Tx) { releaseGone(tx, cid, old, nil); tx.Delete(cid) }, state: stateNone, result: resultApplied, wills: wills}
	}
	m := *old
	m.Online = false
	m.Expiry = expiry
	m.ExpiresAt = 0
	if expiry != 0xFFFFFFFF {
		m.ExpiresAt = op.TS + int64(expiry)*int64(time.Second/time.Millisecond)
	}
	m.Will, m.WillDue, m.WillParent, m.WillState = nil, 0, "", ""
	switch {
	case will == nil:
	case will.Delay == 0:
		wills = append(wills, s.publishWill(b, cid, old, op.Node, events.WillConnectionEnded))
	default:
		// Held by the cluster until its delay or the session's end,
		// whichever comes first; a new connection cancels it.
		m.Will, m.WillParent, m.WillState = will, old.WillParent, old.WillState
		m.WillDue = op.TS + int64(will.Delay)*int64(time.Second/time.Millisecond)
		if m.ExpiresAt > 0 {
			m.WillDue = min(m.WillDue, m.ExpiresAt)
		}
	}
	qfrom := make(map[int]int64, len(follow))
	for p, o := range follow {
		qfrom[p] = o
	}
	for p, o := range in.qfrom {
		qfrom[p] = o
	}
	for p, o := range in.cursor {
		qfrom[p] = o
	}
	return outcome{
		state: stateOffline,
		meta:  &m,
		qfrom: qfrom,
		tx: func(tx *session.Tx) {
			releaseGone(tx, cid, old, &m)
			tx.PutSession(cid, &m)
			tx.ResetQueue(cid, qfrom)
		},
		result: resultApplied,
		wills:  wills,
	}
}

// decideAdminDiscard ends the session at the op's epoch, online or not:
// its connection, if any, is announced disconnected (the frontend holding
// it closes it when it reads the op), then the session terminated.
func (s *Service) decideAdminDiscard(b *batch, op *session.Op, m *session.Meta) outcome {
	if m == nil || m.Epoch != op.Epoch {
		return outcome{result: resultStale}
	}
	cid := op.ClientID
	wills := s.supersededEnd(b, cid, m, op.Node)
	if m.Online {
		d := disconnected(m, cid, events.DisconnectAdministrative, codeAdministrative, op.TS)
		d.Operator = op.By
		b.add(events.ClientDisconnected, m.Node, cid, d)
	}
	// The connection ended by the server's action, and the session with
	// it: an armed will is published, a delayed one at once [MQTT-3.1.2-8].
	if w := m.Will; w != nil && (m.Online || pending(m)) {
		trigger := events.WillSessionEnded
		if m.Online && w.Delay == 0 {
			trigger = events.WillConnectionEnded
		}
		wills = append(wills, s.publishWill(b, cid, m, op.Node, trigger))
	}
	b.add(events.SessionTerminated, op.Node, cid, &events.Terminated{
		Session: sess(m, cid, "", op.Node), Reason: events.TerminateAdministrative, Operator: op.By,
	})
	return outcome{leave: true, tx: func(tx *session.Tx) { releaseGone(tx, cid, m, nil); tx.Delete(cid) },
		state: stateNone, result: resultApplied, wills: wills}
}

// decideAdminUnsubscribe removes filters from the session at the op's
// epoch, online or not. An offline session leaves the offline queue
// before the change and joins it again after, with its subscriptions as
// they are then.
func (s *Service) decideAdminUnsubscribe(b *batch, op *session.Op, m *session.Meta) outcome {
	if m == nil || m.Epoch != op.Epoch || len(op.Filters) == 0 {
		return outcome{result: resultStale}
	}
	cid := op.ClientID
	b.add(events.SessionUnsubscribed, op.Node, cid, &events.Unsubscribed{
		Session: sess(m, cid, "", op.Node), Filters: op.Filters,
		Reason: events.UnsubscribeAdministrative, Operator: op.By,
	})
	return outcome{
		leave:  !m.Online,
		tx:     func(tx *session.Tx) { tx.DelSubs(cid, op.Filters...); tx.Touch(cid) },
		result: resultApplied,
	}
}

// decideWill publishes the wills of the session that are due at the op:
// its delayed will (offline, past its delay) and superseded wills past
// their wait. The op's epoch fences it against a connect that raced it.
func (s *Service) decideWill(b *batch, op *session.Op, m *session.Meta) outcome {
	if m == nil || m.Epoch != op.Epoch {
		return outcome{result: resultStale}
	}
	cid := op.ClientID
	after := *m
	after.Superseded = nil
	var wills []willPub
	for _, w := range m.Superseded {
		if w.Due > op.TS {
			after.Superseded = append(after.Superseded, w)
			continue
		}
		// No word of the connection's end came (its frontend could not
		// log it): it is taken to have been accepted.
		wills = append(wills, s.publishWill(b, cid, w.Holder(), s.cfg.Node, events.WillConnectionEnded))
	}
	if pending(m) && m.WillDue <= op.TS {
		wills = append(wills, s.publishWill(b, cid, m, s.cfg.Node, events.WillDelayElapsed))
		after.Will, after.WillDue, after.WillParent, after.WillState = nil, 0, "", ""
	}
	if len(wills) == 0 {
		return outcome{result: resultStale} // published, cancelled or the session ended
	}
	return outcome{meta: &after, tx: func(tx *session.Tx) { releaseGone(tx, cid, m, &after); tx.PutSession(cid, &after) },
		result: resultApplied, wills: wills}
}

// supersededAt returns the index of m's superseded will of the connection
// at epoch, or -1.
func supersededAt(m *session.Meta, epoch int64) int {
	if m == nil {
		return -1
	}
	return slices.IndexFunc(m.Superseded, func(w session.SupersededWill) bool { return w.Epoch == epoch })
}

// settleSuperseded applies the end of a connection taken over while
// online (its disconnect op, or its incarnation's node_down): its
// disconnection was announced at the takeover; its will is published now,
// unless the connection was never accepted or ended by DISCONNECT 0x00.
func (s *Service) settleSuperseded(b *batch, op *session.Op, m *session.Meta, i int) outcome {
	cid := op.ClientID
	w := m.Superseded[i]
	after := *m
	after.Superseded = slices.Delete(slices.Clone(m.Superseded), i, i+1)
	var wills []willPub
	normal := events.DisconnectReason(op.Reason) == events.DisconnectNormal && op.Code == 0
	if !op.Unaccepted && !normal {
		wills = append(wills, s.publishWill(b, cid, w.Holder(), op.Node, events.WillConnectionEnded))
	}
	return outcome{meta: &after, tx: func(tx *session.Tx) { releaseGone(tx, cid, m, &after); tx.PutSession(cid, &after) },
		result: resultApplied, wills: wills}
}

// supersededEnd publishes the superseded wills of a session that ends:
// nothing is left to wait for their connections' end with.
func (s *Service) supersededEnd(b *batch, cid string, m *session.Meta, node string) []willPub {
	var wills []willPub
	for _, w := range m.Superseded {
		wills = append(wills, s.publishWill(b, cid, w.Holder(), node, events.WillSessionEnded))
	}
	return wills
}

// supersededWait is how long a superseded will waits for word of its
// connection's end: long enough for a frontend to log it, or for a dead
// one to be declared down.
func (s *Service) supersededWait() time.Duration { return 2 * s.cfg.NodeTimeout }

// releaseGone releases the session's holds on the frontend incarnations
// before had and after no longer has (see session.Meta.Holds).
func releaseGone(tx *session.Tx, cid string, before, after *session.Meta) {
	if before == nil {
		return
	}
	if before.Online && !after.Holds(before.Inc) {
		tx.Release(cid, before.Inc)
	}
	for _, w := range before.Superseded {
		if !after.Holds(w.Inc) {
			tx.Release(cid, w.Inc)
		}
	}
}

// pending reports whether m holds a will waiting out its delay.
func pending(m *session.Meta) bool { return m.Will != nil && m.WillDue > 0 && !m.Online }

// willPub is one will a run publishes (see Service.willRecords).
type willPub struct {
	id      string // its will_published event's id
	cid     string
	meta    *session.Meta // the session holding the will, as it was
	trigger events.WillTrigger
}

// publishWill announces the publication of the will m holds, naming node,
// and returns it for the run to append.
func (s *Service) publishWill(b *batch, cid string, m *session.Meta, node string, trigger events.WillTrigger) willPub {
	w := m.Will
	id := b.add(events.SessionWillPublished, node, cid, &events.WillPublished{
		Session: events.Session{ClientID: cid, ConnID: m.Conn, Node: node, Epoch: m.Epoch, Proto: int(m.Proto)},
		Topic:   w.Topic, QoS: w.QoS, Retain: w.Retain, WillDelay: w.Delay, Trigger: trigger,
	})
	return willPub{id: id, cid: cid, meta: m, trigger: trigger}
}
