package admin

import (
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestDecideExplain covers every verdict from the facts alone: the view,
// the client's events (newest first) and the ACL's word.
func TestDecideExplain(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(typ events.Type, s int, data map[string]any) logEvent {
		return logEvent{envelope: envelope{ID: string(typ) + "@" + at(s).String(), Type: string(typ), Time: at(s), Data: data}}
	}
	sub := func(f string, extra ...any) map[string]any {
		m := map[string]any{"filter": f, "qos": 1.0}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i].(string)] = extra[i+1]
		}
		return map[string]any{"subscriptions": []any{m}}
	}
	created := ev(events.SessionCreated, 0, map[string]any{})
	subA := ev(events.SessionSubscribed, 1, sub("a/#"))
	online := session.State{Exists: true, Epoch: 5, Meta: session.Meta{Epoch: 5, Online: true},
		Subscriptions: []session.Subscription{{Filter: "a/#", QoS: 1}}, Cursor: map[int]int64{2: 10}}
	offline := online
	offline.Meta.Online = false
	offline.QueueFrom = map[int]int64{2: 30}
	exp := at(15)
	msg := func(o int64) adminapi.Message {
		return adminapi.Message{MessageRef: adminapi.MessageRef{Partition: 2, Offset: o}, Topic: "a/b", QoS: 1, Time: at(10)}
	}
	cases := []struct {
		name      string
		in        explainIn
		want      string
		basis     string
		wantEvent bool
	}{
		{"delivered: the cursor passed it", explainIn{msg: msg(7), st: online, events: []logEvent{subA, created}}, adminapi.VerdictDelivered, "history", false},
		{"inflight", explainIn{msg: msg(12), st: withInflight(online, 2, 12), events: []logEvent{subA, created}}, adminapi.VerdictInflight, "history", false},
		{"queued", explainIn{msg: msg(12), st: withQueue(offline, 2, 12), events: []logEvent{subA, created}}, adminapi.VerdictQueued, "history", false},
		{"dropped by queue_full",
			explainIn{msg: msg(12), st: offline, events: []logEvent{
				ev(events.SessionMessageDropped, 20, map[string]any{"reason": "queue_full", "partition": 2.0, "from": 11.0, "to": 13.0}), subA, created}},
			adminapi.VerdictDropped, "history", true},
		{"expired by event",
			explainIn{msg: msg(12), st: offline, events: []logEvent{
				ev(events.SessionMessageDropped, 20, map[string]any{"reason": "expired", "partition": 2.0, "from": 12.0, "to": 13.0}), subA, created}},
			adminapi.VerdictExpired, "history", true},
		{"a drop of another partition is not this message",
			explainIn{msg: msg(12), st: withQueue(offline, 2, 12), events: []logEvent{
				ev(events.SessionMessageDropped, 20, map[string]any{"reason": "queue_full", "partition": 1.0, "from": 11.0, "to": 13.0}), subA, created}},
			adminapi.VerdictQueued, "history", false},
		{"expired while queued", explainIn{msg: withExpiry(msg(12), exp), now: at(20), st: withQueue(offline, 2, 12), events: []logEvent{subA, created}}, adminapi.VerdictExpired, "history", false},
		{"denied by the ACL", explainIn{msg: msg(7), st: online, events: []logEvent{subA, created}, acl: adminapi.ACLDenied}, adminapi.VerdictDenied, "history", false},
		{"no subscription matched", explainIn{msg: withTopic(msg(7), "b/c"), st: online, events: []logEvent{subA, created}}, adminapi.VerdictNoSubscription, "history", false},
		{"subscribed only after the message",
			explainIn{msg: msg(7), st: online, events: []logEvent{ev(events.SessionSubscribed, 11, sub("a/#")), created}},
			adminapi.VerdictNoSubscription, "history", false},
		{"unsubscribed before the message",
			explainIn{msg: msg(7), st: online, events: []logEvent{ev(events.SessionUnsubscribed, 5, map[string]any{"filters": []any{"a/#"}}), subA, created}},
			adminapi.VerdictNoSubscription, "history", false},
		{"no session at the time",
			explainIn{msg: msg(7), st: online, events: []logEvent{ev(events.SessionCreated, 11, nil), ev(events.SessionTerminated, 5, map[string]any{"reason": "normal"}), subA, created}},
			adminapi.VerdictNoSubscription, "history", false},
		{"no local skips the client's own message",
			explainIn{cid: "c", publisher: "c", msg: msg(7), st: online, events: []logEvent{ev(events.SessionSubscribed, 1, sub("a/#", "no_local", true)), created}},
			adminapi.VerdictNoSubscription, "history", false},
		{"only a shared subscription matched",
			explainIn{msg: msg(7), st: online, events: []logEvent{ev(events.SessionSubscribed, 1, sub("$share/g/a/#")), created}},
			adminapi.VerdictNoSubscription, "history", false},
		{"the session of the message ended since",
			explainIn{msg: msg(12), st: online, events: []logEvent{ev(events.SessionCreated, 11, nil), ev(events.SessionTerminated, 11, map[string]any{"reason": "discarded"}), subA, created}},
			adminapi.VerdictUnknown, "history", false},
		{"pending on an online session", explainIn{msg: msg(12), st: online, events: []logEvent{subA, created}}, adminapi.VerdictPending, "history", false},
		{"pending: the offline queue has not reached it", explainIn{msg: msg(40), st: offline, events: []logEvent{subA, created}}, adminapi.VerdictPending, "history", false},
		{"without the session's start, the view's subscriptions", explainIn{msg: msg(7), st: online, events: []logEvent{subA}}, adminapi.VerdictDelivered, "current", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.acl == "" {
				tc.in.acl = adminapi.ACLAllowed
			}
			if tc.in.cid == "" {
				tc.in.cid = "c"
			}
			if tc.in.now.IsZero() {
				tc.in.now = at(12)
			}
			got := decideExplain(tc.in)
			if got.Verdict != tc.want || got.Basis != tc.basis || (got.Event != nil) != tc.wantEvent || got.Detail == "" {
				t.Fatalf("verdict %q basis %q event %v (%s), want %q %q event %v", got.Verdict, got.Basis, got.Event, got.Detail, tc.want, tc.basis, tc.wantEvent)
			}
		})
	}
}

func withInflight(st session.State, p int, o int64) session.State {
	st.Inflight = []session.Inflight{{PacketID: 3, Partition: p, Offset: o, QoS: 1, State: session.InflightSent}}
	return st
}

func withQueue(st session.State, p int, o int64) session.State {
	st.Queue = []session.QueueRef{{Partition: p, Offset: o - 1, QoS: 1}, {Partition: p, Offset: o, QoS: 1}}
	return st
}

func withExpiry(m adminapi.Message, t time.Time) adminapi.Message { m.ExpiresAt = &t; return m }

func withTopic(m adminapi.Message, name string) adminapi.Message { m.Topic = name; return m }
