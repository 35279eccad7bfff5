package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// logEvent is one lifecycle event of the client, decoded generically.
type logEvent struct {
	envelope
	partition int
	offset    int64
}

func (e *logEvent) int(k string) int64 {
	f, _ := e.Data[k].(float64)
	return int64(f)
}

func (e *logEvent) str(k string) string {
	s, _ := e.Data[k].(string)
	return s
}

func (e *logEvent) ref() *adminapi.EventRef {
	return &adminapi.EventRef{ID: e.ID, Type: e.Type, Time: e.Time.UTC(), Reason: e.str("reason"), Partition: e.partition, Offset: e.offset}
}

// subs decodes the subscriptions of a session.subscribed event.
func (e *logEvent) subs() []session.Subscription {
	var out []struct {
		Filter string `json:"filter"`
		QoS    byte   `json:"qos"`
		NoLoc  bool   `json:"no_local"`
		RAP    bool   `json:"retain_as_published"`
		RH     byte   `json:"retain_handling"`
		SubID  uint32 `json:"subscription_id"`
	}
	b, _ := json.Marshal(e.Data["subscriptions"])
	_ = json.Unmarshal(b, &out)
	subs := make([]session.Subscription, len(out))
	for i, s := range out {
		subs[i] = session.Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLoc, RetainAsPublished: s.RAP, RetainHandling: s.RH, SubID: s.SubID}
	}
	return subs
}

func (e *logEvent) filters() []string {
	var out []string
	for _, f := range asSlice(e.Data["filters"]) {
		if s, ok := f.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// explainIn is everything explain decides from: the message, the view
// now, the client's events (newest first), and the ACL's word.
type explainIn struct {
	cid       string
	msg       adminapi.Message
	publisher string
	now       time.Time
	st        session.State
	events    []logEvent
	acl       string
}

// decideExplain says what became of in.msg for the session. It is pure:
// every fact it uses is in in.
func decideExplain(in explainIn) adminapi.Explanation {
	out := adminapi.Explanation{ClientID: in.cid, Message: in.msg, ACL: in.acl,
		Subscriptions: []adminapi.Subscription{}, Matched: []adminapi.Subscription{}}
	p, o, at := in.msg.Partition, in.msg.Offset, in.msg.Time
	if c, ok := in.st.Cursor[p]; ok {
		out.Cursor = &c
	}

	// The session as it was at the message's time, from the events: the
	// newest change of each filter before it, back to where the session
	// began (created) or to an end with none after it (terminated).
	decided := map[string]*session.Subscription{}
	var order []string
	var boundary, drop, ended *logEvent
	for i := range in.events {
		e := &in.events[i]
		if e.Type == string(events.SessionMessageDropped) && drop == nil &&
			int(e.int("partition")) == p && e.int("from") <= o && o < e.int("to") {
			drop = e
		}
		if e.Time.After(at) {
			if (e.Type == string(events.SessionCreated) || e.Type == string(events.SessionTerminated)) && ended == nil {
				ended = e // the session of the message ended or was replaced since
			}
			continue
		}
		switch events.Type(e.Type) {
		case events.SessionSubscribed:
			for _, sub := range e.subs() {
				if _, seen := decided[sub.Filter]; !seen {
					decided[sub.Filter] = &sub
					order = append(order, sub.Filter)
				}
			}
		case events.SessionUnsubscribed:
			for _, f := range e.filters() {
				if _, seen := decided[f]; !seen {
					decided[f] = nil
				}
			}
		case events.SessionCreated, events.SessionTerminated:
			boundary = e
		}
		if boundary != nil {
			break
		}
	}
	var then []session.Subscription
	switch {
	case boundary != nil:
		out.Basis = "history"
		for _, f := range order {
			if s := decided[f]; s != nil {
				then = append(then, *s)
			}
		}
	default:
		out.Basis = "current"
		then = in.st.Subscriptions
		ended = nil // without the history, the view is all there is
	}
	out.Subscriptions = apiSubs(then)

	if boundary != nil && boundary.Type == string(events.SessionTerminated) {
		return verdict(out, adminapi.VerdictNoSubscription, "no session existed when it was published (the previous one ended at %s)", stamp(boundary.Time))
	}
	var matched, shared []session.Subscription
	for _, sub := range then {
		inner, isShared := sub.Filter, strings.HasPrefix(sub.Filter, topic.SharePrefix)
		if isShared {
			_, inner, _, _ = topic.ParseShared(sub.Filter)
		}
		switch {
		case !topic.Match(inner, in.msg.Topic):
		case isShared:
			shared = append(shared, sub)
		case sub.NoLocal && in.publisher == in.cid:
		default:
			matched = append(matched, sub)
		}
	}
	out.Matched = apiSubs(matched)
	if len(matched) == 0 {
		why := "no subscription of the session matched its topic when it was published"
		if len(shared) > 0 {
			why += "; it matched only shared subscriptions, which deliver to one member of the group and are not tracked per session"
		} else if in.publisher == in.cid {
			why += " (No Local subscriptions skip the client's own messages)"
		}
		return verdict(out, adminapi.VerdictNoSubscription, "%s", why)
	}
	if in.acl == adminapi.ACLDenied {
		return verdict(out, adminapi.VerdictDenied, "the ACL does not let the session's user read %q", in.msg.Topic)
	}
	if drop != nil {
		out.Event = drop.ref()
		v := adminapi.VerdictDropped
		if drop.str("reason") == string(events.DropExpired) {
			v = adminapi.VerdictExpired
		}
		return verdict(out, v, "dropped (%s) at %s: %s event for offsets [%d, %d) of partition %d",
			drop.str("reason"), stamp(drop.Time), drop.Type, drop.int("from"), drop.int("to"), p)
	}
	if ended != nil {
		return verdict(out, adminapi.VerdictUnknown, "the session it was published for ended since (%s at %s); its delivery state is gone", ended.Type, stamp(ended.Time))
	}
	if !in.st.Exists {
		return verdict(out, adminapi.VerdictUnknown, "the session no longer exists; its delivery state is gone")
	}
	for _, f := range in.st.Inflight {
		if f.Partition == p && f.Offset == o {
			a := apiInflight(f)
			out.Inflight = &a
			return verdict(out, adminapi.VerdictInflight, "sent as packet id %d (QoS %d), waiting for the client (%s)", f.PacketID, f.QoS, f.State)
		}
	}
	if out.Cursor != nil && *out.Cursor > o {
		return verdict(out, adminapi.VerdictDelivered, "delivered: the session's cursor on partition %d is at %d, past it", p, *out.Cursor)
	}
	if in.msg.ExpiresAt != nil && !in.now.Before(*in.msg.ExpiresAt) {
		return verdict(out, adminapi.VerdictExpired, "its message expiry passed at %s before it was delivered; it is dropped, with an event, when the session reaches it", stamp(*in.msg.ExpiresAt))
	}
	for i, q := range in.st.Queue {
		if q.Partition == p && q.Offset == o {
			return verdict(out, adminapi.VerdictQueued, "in the offline queue, entry %d of %d (QoS %d)", i+1, len(in.st.Queue), q.QoS)
		}
	}
	if in.st.Meta.Online {
		return verdict(out, adminapi.VerdictPending, "matched; the connection has not finished it yet (on its way, or delivered after the last progress report)")
	}
	if from, ok := in.st.QueueFrom[p]; ok && from <= o {
		return verdict(out, adminapi.VerdictPending, "matched; the offline queue has not reached it yet (it is at %d)", from)
	}
	return verdict(out, adminapi.VerdictPending, "matched, but not in the offline queue: QoS 0 messages are queued only with --queue-qos0, shared subscriptions never")
}

func verdict(out adminapi.Explanation, v, format string, args ...any) adminapi.Explanation {
	out.Verdict, out.Detail = v, fmt.Sprintf(format, args...)
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// explain gathers the facts about one message and one session and asks
// decideExplain.
func (s *Server) explain(r *http.Request, _ auth.Token) reply {
	cid := r.PathValue("clientid")
	q := r.URL.Query()
	p, err := strconv.Atoi(q.Get("partition"))
	if err != nil || p < 0 {
		return fail(http.StatusBadRequest, "partition must be a partition number of the messages topic, got %q", q.Get("partition"))
	}
	o, err := strconv.ParseInt(q.Get("offset"), 10, 64)
	if err != nil || o < 0 {
		return fail(http.StatusBadRequest, "offset must be a record offset, got %q", q.Get("offset"))
	}
	ctx := r.Context()
	bounds, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Messages)
	if err != nil {
		return failErr("read the messages topic", err)
	}
	b, found := bounds[p]
	if !found {
		return fail(http.StatusBadRequest, "the messages topic has no partition %d (it has %d)", p, len(bounds))
	}
	if o < b.First || o >= b.Next {
		return fail(http.StatusBadRequest, "offset %d is not in partition %d, which holds [%d, %d)", o, p, b.First, b.Next)
	}
	var rec *kafkalog.Record
	err = kafkalog.ReadRange(ctx, s.cfg.Kafka, s.cfg.Topics.Messages, p, o, o+1, func(r *kafkalog.Record) error {
		rec = r
		return nil
	})
	if err != nil {
		return failErr("read the message", err)
	}
	if rec == nil || rec.Offset != o {
		return fail(http.StatusBadRequest, "no record at offset %d of partition %d", o, p)
	}
	st, bad := s.load(ctx, cid)
	if bad != nil {
		return *bad
	}
	in := explainIn{cid: cid, msg: describeMessage(rec), now: time.Now(), st: st}
	if v, ok := rec.Header(kafkalog.HeaderClient); ok {
		in.publisher = string(v)
	}
	if in.events, err = s.eventsSince(ctx, cid, in.msg.Time); err != nil {
		return failErr("read the lifecycle topic", err)
	}
	if !st.Exists && len(in.events) == 0 {
		return fail(http.StatusNotFound, "no session and no history for ClientID %q", cid)
	}
	in.acl = s.aclVerdict(cid, userThen(st, in.events, in.msg.Time), in.msg.Topic)
	return ok(decideExplain(in))
}

// eventsSince reads the client's events newest first, back past at to
// the start of the session that existed then (or the start of the log,
// or the scan limit).
func (s *Server) eventsSince(ctx context.Context, cid string, at time.Time) ([]logEvent, error) {
	logs, err := s.locate(ctx, cid)
	if err != nil {
		return nil, err
	}
	b := newBackScan(s.cfg.Kafka, s.cfg.Topics.Lifecycle, logs.evPart, cid, logs.ev.First, logs.ev.Next, s.cfg.ScanLimit)
	var out []logEvent
	for {
		rec, err := b.peek(ctx)
		if err != nil || rec == nil {
			return out, err
		}
		b.take()
		e := logEvent{partition: rec.Partition, offset: rec.Offset}
		if json.Unmarshal(rec.Value, &e.envelope) != nil {
			continue
		}
		out = append(out, e)
		if !e.Time.After(at) && (e.Type == string(events.SessionCreated) || e.Type == string(events.SessionTerminated)) {
			return out, nil
		}
	}
}

// userThen is the user name of the session's connection at the message's
// time: from its connected event, else the view's.
func userThen(st session.State, evs []logEvent, at time.Time) string {
	for i := range evs {
		if evs[i].Type == string(events.ClientConnected) && !evs[i].Time.After(at) {
			return evs[i].str("username")
		}
	}
	return st.Meta.Username
}

func (s *Server) aclVerdict(cid, user, name string) string {
	switch {
	case s.cfg.ACL == nil:
		return adminapi.ACLUnchecked
	case s.cfg.ACL.CanRead(auth.Client{ClientID: cid, Username: user}, name):
		return adminapi.ACLAllowed
	}
	return adminapi.ACLDenied
}

// describeMessage reads the headers of a messages-topic record.
func describeMessage(rec *kafkalog.Record) adminapi.Message {
	m := adminapi.Message{MessageRef: adminapi.MessageRef{Partition: rec.Partition, Offset: rec.Offset},
		Topic: string(rec.Key), Time: rec.Time.UTC()}
	if v, ok := rec.Header(kafkalog.HeaderQoS); ok {
		m.QoS, _ = strconv.Atoi(string(v))
	}
	if v, ok := rec.Header(kafkalog.HeaderRetain); ok && string(v) == "1" {
		m.Retain = true
	}
	if v, ok := rec.Header(kafkalog.HeaderClient); ok {
		m.Publisher = string(v)
	}
	if v, ok := rec.Header(kafkalog.HeaderExpires); ok {
		if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			t := msTime(ms)
			m.ExpiresAt = &t
		}
	}
	return m
}
