package sessiond

import (
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
}

// input is the view of one client before an op: meta is nil when no
// session exists; cursor and qfrom are loaded for disconnect ops only.
type input struct {
	meta   *session.Meta
	cursor map[int]int64
	qfrom  map[int]int64

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
		return s.decideConnect(b, op, m)
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
		b.add(events.SessionTerminated, s.cfg.Node, cid, &events.Terminated{
			Session: sess(m, cid, "", s.cfg.Node), Reason: events.TerminateExpired,
		})
		return outcome{leave: true, tx: func(tx *session.Tx) { tx.Delete(cid) }, state: stateNone, result: resultApplied}
	case session.OpAdminDiscard:
		return s.decideAdminDiscard(b, op, m)
	case session.OpAdminUnsubscribe:
		return s.decideAdminUnsubscribe(b, op, m)
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
func (s *Service) decideConnect(b *batch, op *session.Op, old *session.Meta) outcome {
	cid := op.ClientID
	epoch := b.offset
	ts := op.TS
	expiry := s.cfg.expiry(op.Proto, op.Clean, op.Expiry)
	present := false
	if old != nil {
		expired := !old.Online && old.ExpiresAt > 0 && old.ExpiresAt <= ts
		switch {
		case expired:
			// The expire op has not come round yet; the session is gone
			// all the same.
			b.add(events.SessionTerminated, s.cfg.Node, cid, &events.Terminated{
				Session: sess(old, cid, "", s.cfg.Node), Reason: events.TerminateExpired,
			})
		case old.Online && old.Resumable() && !op.Clean:
			b.add(events.ClientDisconnected, old.Node, cid, disconnected(old, cid, events.DisconnectTakenOver, codeTakenOver, ts))
			present = true
		case old.Online:
			b.add(events.ClientDisconnected, old.Node, cid, disconnected(old, cid, events.DisconnectDiscarded, codeTakenOver, ts))
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
		Expiry: expiry, Present: present, Created: ts, Since: ts,
		Username: op.Username, Peer: op.Peer, Keepalive: op.Keepalive,
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
			tx.PutSession(cid, m)
		},
		result: resultApplied,
	}
}

// decideDisconnect ends the connection; a session that ends with it is
// deleted, a persistent one goes offline with its queue restarting at the
// cursor.
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
	if expiry == 0 {
		why := events.TerminateNormal
		if reason == events.DisconnectAdministrative {
			why = events.TerminateAdministrative
		}
		b.add(events.SessionTerminated, op.Node, cid, &events.Terminated{
			Session: sess(old, cid, op.Conn, op.Node), Reason: why, Operator: op.By,
		})
		return outcome{tx: func(tx *session.Tx) { tx.Delete(cid) }, state: stateNone, result: resultApplied}
	}
	m := *old
	m.Online = false
	m.Expiry = expiry
	m.ExpiresAt = 0
	if expiry != 0xFFFFFFFF {
		m.ExpiresAt = op.TS + int64(expiry)*int64(time.Second/time.Millisecond)
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
			tx.PutSession(cid, &m)
			tx.ResetQueue(cid, qfrom)
		},
		result: resultApplied,
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
	if m.Online {
		d := disconnected(m, cid, events.DisconnectAdministrative, codeAdministrative, op.TS)
		d.Operator = op.By
		b.add(events.ClientDisconnected, m.Node, cid, d)
	}
	b.add(events.SessionTerminated, op.Node, cid, &events.Terminated{
		Session: sess(m, cid, "", op.Node), Reason: events.TerminateAdministrative, Operator: op.By,
	})
	return outcome{leave: true, tx: func(tx *session.Tx) { tx.Delete(cid) }, state: stateNone, result: resultApplied}
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
