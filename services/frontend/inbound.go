package frontend

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// handle acts on one packet from the client, in the loop. What needs Kafka
// goes to a lane and is answered when its result comes back; everything
// else is answered at once.
func (c *conn) handle(p mqtt.Packet) error {
	switch p := p.(type) {
	case *mqtt.Publish:
		return c.onPublish(p)
	case *mqtt.Puback:
		c.out.puback(p.PacketID)
	case *mqtt.Pubrec:
		c.onPubrec(p)
	case *mqtt.Pubcomp:
		c.out.pubcomp(p.PacketID)
	case *mqtt.Pubrel:
		c.toPublishLane(inPacket{rel: p.PacketID})
	case *earlySubscribe:
		return c.onSubscribe(p)
	case *mqtt.Subscribe:
		return c.onSubscribe(&earlySubscribe{Subscribe: p})
	case *mqtt.Unsubscribe:
		c.onUnsubscribe(p)
	case *mqtt.Pingreq:
		c.ctrl = append(c.ctrl, &mqtt.Pingresp{})
	case *mqtt.Disconnect:
		return c.onDisconnect(p)
	default:
		// A second CONNECT [MQTT-3.1.0-2], AUTH without an auth method,
		// or a server-only packet.
		return fmt.Errorf("unexpected %s: %w", p.Type(), mqtt.ProtocolError)
	}
	return nil
}

func (c *conn) onDisconnect(p *mqtt.Disconnect) error {
	if se := p.Properties.SessionExpiry; se != nil {
		if c.connExp == 0 && *se != 0 {
			return fmt.Errorf("session expiry set at disconnect: %w", mqtt.ProtocolError) // [MQTT-3.14.2-2]
		}
		exp := *se
		if m := c.s.cfg.MaxExpiry; m > 0 && exp > uint32(m/time.Second) {
			exp = uint32(m / time.Second)
		}
		c.expiry = exp
	}
	// The session service publishes the will unless the code is 0x00
	// [MQTT-3.14.4-3]; the disconnect op carries it.
	return clientDisconnect(p.ReasonCode)
}

// inPacket is one item for the publish lane: a PUBLISH, or a PUBREL
// (rel != 0).
type inPacket struct {
	pub    *mqtt.Publish
	denied bool // the Authorizer refused the PUBLISH
	q2new  bool // a QoS 2 PUBLISH whose packet id is logged with it
	rel    uint16
}

func (c *conn) onPublish(p *mqtt.Publish) error {
	if a := p.Properties.TopicAlias; a != nil {
		if *a == 0 || int(*a) > c.s.cfg.TopicAliasMaximum {
			return fmt.Errorf("topic alias %d: %w", *a, mqtt.TopicAliasInvalid)
		}
		if c.inAliases == nil {
			c.inAliases = make(map[uint16]string)
		}
		if p.Topic == "" {
			t, ok := c.inAliases[*a]
			if !ok {
				return fmt.Errorf("unknown topic alias %d: %w", *a, mqtt.ProtocolError)
			}
			p.Topic = t
		} else {
			c.inAliases[*a] = p.Topic
		}
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		return fmt.Errorf("publish topic: %w: %w", mqtt.TopicNameInvalid, err)
	}
	if err := c.s.lim.checkTopic(p.Topic); err != nil {
		return fmt.Errorf("publish topic: %w: %w", mqtt.TopicNameInvalid, err)
	}
	c.s.m.messagesIn.WithLabelValues(qosLabel[p.QoS&3]).Inc()
	c.s.m.bytesIn.Add(float64(len(p.Payload)))
	if c.version == mqtt.V5 && (p.QoS == 1 || (p.QoS == 2 && !p.Dup)) {
		c.inQuota++
		if c.inQuota > c.s.cfg.ReceiveMaximum {
			c.s.lim.hit(limitInflight)
			return fmt.Errorf("inbound publish window: %w", mqtt.ReceiveMaximumExceeded) // [MQTT-3.3.4-7]
		}
	}
	in := inPacket{pub: p}
	if !c.s.cfg.Auth.Publish(c.ctx, c.info, p.Topic) {
		// MQTT 5 answers with a reason code; 3.1.1 acknowledges and drops.
		c.s.lim.denied.WithLabelValues("publish").Inc()
		in.denied = true
	} else if p.QoS == 2 {
		// [MQTT-4.3.3-10]: a packet id logged (or being logged) already is
		// a resend: acknowledged again, not logged twice.
		_, held := c.q2in[p.PacketID]
		_, logging := c.q2logging[p.PacketID]
		if !held && !logging {
			in.q2new = true
			if c.q2logging == nil {
				c.q2logging = make(map[uint16]struct{})
			}
			c.q2logging[p.PacketID] = struct{}{}
		}
	}
	c.toPublishLane(in)
	return nil
}

// toPublishLane appends in to the publish lane; its answer (PUBACK,
// PUBREC, PUBCOMP) comes when it is logged, in the order packets came.
func (c *conn) toPublishLane(in inPacket) {
	now := time.Now()
	req := &appendReq{retry: true}
	var span *publishTrace
	switch {
	case in.rel != 0:
		if _, ok := c.q2in[in.rel]; ok {
			req.recs2 = append(req.recs2, c.opRecord(&session.Op{Kind: session.OpQoS2Rel, PacketID: in.rel}))
		}
	case !in.denied && (in.pub.QoS < 2 || in.q2new):
		p := in.pub
		rec := publishRecord(c.s.cfg.Topics.Messages, c.clientID, p, now)
		span = startPublishSpan(c.clientID, p, rec)
		req.recs = append(req.recs, rec)
		if p.Retain {
			r := publishRecord(c.s.cfg.Topics.Retained, c.clientID, p, now)
			if len(p.Payload) == 0 {
				r.Value = nil // tombstone: clears the retained message [MQTT-3.3.1-6]
			}
			req.recs = append(req.recs, r)
		}
		if in.q2new {
			req.recs2 = append(req.recs2, c.opRecord(&session.Op{Kind: session.OpQoS2In, PacketID: p.PacketID}))
		}
	}
	req.done = func(err error) {
		endSpan(span, err)
		if in.pub != nil {
			c.inboundDone(1)
		}
		if err != nil {
			c.kill(err)
			return
		}
		c.answer(in)
	}
	c.pub.submit(req)
}

// answer acknowledges a logged PUBLISH or PUBREL.
func (c *conn) answer(in inPacket) {
	if in.rel != 0 {
		rc := mqtt.Success
		if _, ok := c.q2in[in.rel]; ok {
			delete(c.q2in, in.rel)
			c.quotaDone()
		} else {
			rc = mqtt.PacketIdentifierNotFound
		}
		c.ctrl = append(c.ctrl, &mqtt.Pubcomp{PacketID: in.rel, ReasonCode: rc})
		return
	}
	p := in.pub
	var rc mqtt.ReasonCode
	if in.denied {
		rc = mqtt.NotAuthorized
	}
	switch p.QoS {
	case 1:
		c.ctrl = append(c.ctrl, &mqtt.Puback{PacketID: p.PacketID, ReasonCode: rc})
		c.quotaDone()
	case 2:
		if in.q2new {
			delete(c.q2logging, p.PacketID)
			if c.q2in == nil {
				c.q2in = make(map[uint16]struct{})
			}
			c.q2in[p.PacketID] = struct{}{}
		}
		c.ctrl = append(c.ctrl, &mqtt.Pubrec{PacketID: p.PacketID, ReasonCode: rc})
		if in.denied {
			c.quotaDone() // a failure PUBREC ends the exchange
		}
	}
}

// quotaDone frees one slot of the inbound Receive Maximum window. Ids
// resumed from an earlier connection were never counted here, hence the
// floor at zero.
func (c *conn) quotaDone() { c.inQuota = max(c.inQuota-1, 0) }

// onPubrec answers the client's PUBREC for an outbound QoS 2 message: the
// pubrec state must be in the log before the client can see PUBREL, or a
// resume from an older state would send the PUBLISH again after the client
// completed it, a duplicate.
func (c *conn) onPubrec(p *mqtt.Pubrec) {
	release, answer := c.out.pubrec(p.PacketID, p.ReasonCode)
	if answer != nil {
		c.ctrl = append(c.ctrl, answer)
	}
	if !release {
		return
	}
	cur, infl := c.progressNow()
	pid := p.PacketID
	c.submitOp(&c.opsL, &session.Op{Kind: session.OpProgress, Cursor: cur, Inflight: infl}, true, func(err error) {
		if err != nil {
			c.kill(err)
			return
		}
		c.ctrl = append(c.ctrl, &mqtt.Pubrel{PacketID: pid})
	})
}

// grantedCode is the SUBACK code for a granted QoS (0x00-0x02).
func grantedCode(q byte) mqtt.ReasonCode { return mqtt.ReasonCode(q) }

// earlySubscribe is a SUBSCRIBE whose plain subscriptions the reader put
// into the router when it read the packet (joinEarly): from then on every
// record the router dispatches is matched against them. The loop decides
// the rest (quota, op, SUBACK) and takes out what it refuses.
type earlySubscribe struct {
	*mqtt.Subscribe
	joined map[string]session.Subscription // by filter
	from   map[int]int64                   // router positions at the join
}

// joinEarly is the reader's part of SUBSCRIBE: the plain subscriptions
// that are valid and that the ACL allows join the router now, before the
// packet waits in the inbox and before their op is logged. It only reads
// what the loop never changes (the client's identity, the limits, the
// Authorizer) and the router, which has its own lock.
func (c *conn) joinEarly(p *mqtt.Subscribe) *earlySubscribe {
	e := &earlySubscribe{Subscribe: p}
	var subID uint32
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		subID = ids[0]
	}
	var plain []session.Subscription
	for _, s := range p.Subscriptions {
		_, filter, shared, err := topic.ParseShared(s.Filter)
		if err != nil || shared || topic.ValidateFilter(filter) != nil || c.s.lim.checkTopic(filter) != nil ||
			!c.s.cfg.Auth.Subscribe(c.ctx, c.info, filter) {
			continue
		}
		sub := session.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
			RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubID: subID}
		plain = append(plain, sub)
		if e.joined == nil {
			e.joined = make(map[string]session.Subscription)
		}
		e.joined[s.Filter] = sub
	}
	if len(plain) > 0 {
		e.from = c.s.router.joinRecent(c, plain)
	}
	return e
}

// leaveEarly is the reader's part of UNSUBSCRIBE: the plain filters leave
// the router when the packet is read, in the order of the packets (a
// SUBSCRIBE read after it joins again). The loop puts them back if the op
// cannot be logged.
func (c *conn) leaveEarly(p *mqtt.Unsubscribe) {
	for _, f := range p.Filters {
		if !isShared(f) {
			c.s.router.unsubscribe(c, f)
		}
	}
}

func (c *conn) onSubscribe(p *earlySubscribe) error {
	codes := make([]mqtt.ReasonCode, len(p.Subscriptions))
	var subID uint32
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		subID = ids[0]
	}
	var granted []session.Subscription
	quota := c.newSubQuota()
	for i, s := range p.Subscriptions {
		_, filter, shared, err := topic.ParseShared(s.Filter)
		switch {
		case err != nil:
			codes[i] = mqtt.TopicFilterInvalid
		case shared && s.NoLocal:
			return fmt.Errorf("no local on shared subscription: %w", mqtt.ProtocolError) // [MQTT-3.8.3-4]
		case topic.ValidateFilter(filter) != nil, c.s.lim.checkTopic(filter) != nil:
			codes[i] = mqtt.TopicFilterInvalid
		case !c.s.cfg.Auth.Subscribe(c.ctx, c.info, filter):
			c.s.lim.denied.WithLabelValues("subscribe").Inc()
			codes[i] = mqtt.NotAuthorized
		case !quota.take(s.Filter):
			codes[i] = mqtt.QuotaExceeded
		default:
			codes[i] = grantedCode(s.QoS)
			// Shared subscriptions keep their $share/{group}/ prefix in
			// the session: it is what the client subscribed to.
			granted = append(granted, session.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
				RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubID: subID})
		}
	}
	// What the reader joined and the loop refuses (the subscription
	// quota) leaves the router again, or gets back the options the
	// session held.
	for f := range p.joined {
		if slices.ContainsFunc(granted, func(s session.Subscription) bool { return s.Filter == f }) {
			continue
		}
		if old, had := c.subs[f]; had {
			c.s.router.subscribe(c, old)
		} else {
			c.s.router.unsubscribe(c, f)
		}
	}
	if len(granted) == 0 {
		c.ctrl = append(c.ctrl, &mqtt.Suback{PacketID: p.PacketID, ReasonCodes: codes})
		return nil
	}
	// The subscriptions join live delivery as soon as the packet is read
	// (plain ones by the reader, shared ones here), before their op is
	// logged: a message that reaches this frontend's router after the
	// SUBSCRIBE was read is delivered, even while the op is on its way
	// (MQTT lets PUBLISH precede the SUBACK). They are undone if the op
	// cannot be logged.
	isNew := make([]bool, len(granted))
	prev := make(map[string]session.Subscription)
	if len(c.subs) == 0 && len(granted) > 0 && c.out.owesNothing() {
		// A session without subscriptions logs no progress (tickProgress),
		// so the cursor it holds may be old: the first subscription logs
		// one soon, lest a resume scan from there deliver what was
		// published before it.
		c.out.dirty = true
	}
	if c.subs == nil {
		c.subs = make(map[string]session.Subscription)
	}
	for i, s := range granted {
		old, had := c.subs[s.Filter]
		isNew[i] = !had
		if _, seen := prev[s.Filter]; had && !seen {
			prev[s.Filter] = old
		}
		c.subs[s.Filter] = s
	}
	// The live positions when the subscriptions joined the router: the
	// session service keeps them as the cursor of partitions that have
	// none yet, so a takeover before this connection's first progress op
	// still replays from where the subscription began.
	from := c.join(granted, p)
	pid := p.PacketID
	c.submitOp(&c.subLane, &session.Op{Kind: session.OpSubscribe, Subs: granted, Cursor: from}, false, func(err error) {
		if err != nil {
			c.logger().Warn("log subscribe", "err", err)
			c.unjoin(granted, prev)
			for i := range codes {
				if !codes[i].IsError() {
					codes[i] = mqtt.UnspecifiedError
				}
			}
			granted = nil
		}
		c.ctrl = append(c.ctrl, &mqtt.Suback{PacketID: pid, ReasonCodes: codes})
		for i, s := range granted {
			if isShared(s.Filter) {
				continue // a new shared subscription gets no retained messages (MQTT 5.0 4.8.2)
			}
			if s.RetainHandling == 0 || (s.RetainHandling == 1 && isNew[i]) {
				for _, d := range c.s.retained.matching(s) {
					c.out.addLive(d)
				}
			}
		}
	})
	return nil
}

// subQuota applies MaxSubscriptions to one SUBSCRIBE: a filter the session
// holds already (or named twice) replaces itself and needs no slot.
type subQuota struct {
	c     *conn
	held  int
	fresh map[string]bool
}

func (c *conn) newSubQuota() *subQuota { return &subQuota{c: c, held: len(c.subs)} }

func (q *subQuota) take(filter string) bool {
	limit := q.c.s.cfg.Limits.MaxSubscriptions
	if limit <= 0 || q.fresh[filter] {
		return true
	}
	if _, had := q.c.subs[filter]; had {
		return true
	}
	if q.held >= limit {
		q.c.s.lim.hit(limitSubscriptions)
		return false
	}
	if q.fresh == nil {
		q.fresh = make(map[string]bool)
	}
	q.fresh[filter] = true
	q.held++
	return true
}

func (c *conn) onUnsubscribe(p *mqtt.Unsubscribe) {
	pid, filters := p.PacketID, p.Filters
	c.submitOp(&c.subLane, &session.Op{Kind: session.OpUnsubscribe, Filters: filters}, false, func(err error) {
		codes := make([]mqtt.ReasonCode, len(filters))
		if err != nil {
			c.logger().Warn("log unsubscribe", "err", err)
			for i, f := range filters {
				codes[i] = mqtt.UnspecifiedError
				if s, held := c.subs[f]; held && !isShared(f) {
					c.s.router.subscribe(c, s) // the reader took it out (leaveEarly)
				}
			}
		} else {
			for i, f := range filters {
				if !c.dropSub(f) {
					codes[i] = mqtt.NoSubscriptionExisted
				}
			}
		}
		if c.version != mqtt.V5 {
			codes = nil
		}
		c.ctrl = append(c.ctrl, &mqtt.Unsuback{PacketID: pid, ReasonCodes: codes})
	})
}

// dropSub takes filter out of the session and live delivery; it reports
// whether the session had it.
func (c *conn) dropSub(f string) bool {
	_, had := c.subs[f]
	delete(c.subs, f)
	if group, inner, shared, _ := topic.ParseShared(f); shared {
		if had {
			c.s.shares.leave(c, group, inner, nil)
		}
	} else {
		c.s.router.unsubscribe(c, f)
	}
	return had
}

// isShared reports whether a session filter is a shared subscription.
func isShared(filter string) bool { return strings.HasPrefix(filter, topic.SharePrefix) }

// join puts subscriptions into live delivery, but those the reader joined
// already (e), and returns the router positions they joined at: every
// record at or after them is matched.
func (c *conn) join(subs []session.Subscription, e *earlySubscribe) map[int]int64 {
	var plain []session.Subscription
	for _, s := range subs {
		switch _, early := e.joined[s.Filter]; {
		case isShared(s.Filter):
			c.route(s)
		case !early:
			plain = append(plain, s)
		}
	}
	if len(plain) == 0 && e.from != nil {
		return e.from
	}
	from := c.s.router.attach(c, plain)
	for p, o := range e.from {
		if f, ok := from[p]; !ok || o < f {
			from[p] = o
		}
	}
	return from
}

// unjoin undoes join for subscriptions whose op could not be logged: a
// filter the session held before gets its previous options back, the
// others leave live delivery and the session.
func (c *conn) unjoin(subs []session.Subscription, prev map[string]session.Subscription) {
	for _, s := range subs {
		if old, had := prev[s.Filter]; had {
			c.subs[s.Filter] = old
			c.route(old)
			continue
		}
		c.dropSub(s.Filter)
	}
}

// route puts one subscription into live delivery: the router for plain
// filters, the share's consumer group for shared ones.
func (c *conn) route(s session.Subscription) {
	group, inner, shared, err := topic.ParseShared(s.Filter)
	switch {
	case err != nil:
	case shared:
		s.Filter = inner
		c.s.shares.join(c, group, s)
	default:
		c.s.router.subscribe(c, s)
	}
}

// matchSubs aggregates the session's subscriptions matching msg, for
// replay. It says nothing of the ACL: the caller asks readable.
func (c *conn) matchSubs(msg *message) match {
	var m match
	for _, s := range c.subs {
		if !isShared(s.Filter) && topic.Match(s.Filter, msg.topic) {
			m.add(msg, c.clientID, s)
		}
	}
	return m
}

// readable applies the Authorizer's per-message read check, if it has one,
// as the rules stand now (ARCHITECTURE.md invariant 10: the ACL in force at
// delivery, on every path). A refusal is counted; the caller then does not
// send the message and lets the session's cursor pass it.
func (c *conn) readable(topic string) bool {
	if c.mayRead(topic) {
		return true
	}
	c.s.lim.deniedRead()
	return false
}

// mayRead is readable without the count, for a shared delivery that another
// member may still take.
func (c *conn) mayRead(topic string) bool {
	rc, ok := c.s.cfg.Auth.(ReadChecker)
	return !ok || rc.Read(c.ctx, c.info, topic)
}
