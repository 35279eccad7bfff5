package sessiond

import (
	"reflect"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestLifecycleSequences drives one service through every scenario of the
// lifecycle tables (SESSIONS.md §3) and asserts the exact event sequence
// per ClientID, with reasons and Session Present.
func TestLifecycleSequences(t *testing.T) { lifecycleSequences(t, newHarness(t)) }

func lifecycleSequences(t *testing.T, h *harness) {
	h.start(nil)

	const v311, v5 = 4, 5
	// Connection ids are "A" and "B"; the test prefixes them with the cid.
	cases := []struct {
		name string
		run  func(h *harness, cid string, id func(string) string)
		want []want
	}{
		{
			name: "clean connect and normal disconnect",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), true, v311, 0)
				a.disconnect(events.DisconnectNormal, 0)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A", present: false},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectNormal)},
				{typ: events.SessionTerminated, conn: "A", reason: string(events.TerminateNormal)},
			},
		},
		{
			name: "clean session conflict",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), true, v311, 0)
				h.connect(cid, id("B"), true, v311, 0)
				// The old frontend's late disconnect is stale: no second event.
				a.disconnect(events.DisconnectTakenOver, 0)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectDiscarded)},
				{typ: events.SessionTerminated, conn: "B", reason: string(events.TerminateConflict)},
				{typ: events.SessionCreated, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: false},
			},
		},
		{
			name: "persistent first connect, disconnect, resume",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v311, 0)
				a.disconnect(events.DisconnectNormal, 0)
				h.connect(cid, id("B"), false, v311, 0)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A", present: false},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectNormal)},
				{typ: events.SessionResumed, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: true},
			},
		},
		{
			name: "persistent conflict (takeover)",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 300)
				h.connect(cid, id("B"), false, v5, 300)
				a.disconnect(events.DisconnectTakenOver, 300)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A", present: false},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectTakenOver)},
				{typ: events.SessionResumed, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: true},
			},
		},
		{
			name: "persistent then clean while offline",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v311, 0)
				a.disconnect(events.DisconnectClosed, 0)
				h.connect(cid, id("B"), true, v311, 0)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectClosed)},
				{typ: events.SessionTerminated, conn: "B", reason: string(events.TerminateDiscarded)},
				{typ: events.SessionCreated, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: false},
			},
		},
		{
			name: "persistent then clean while online",
			run: func(h *harness, cid string, id func(string) string) {
				h.connect(cid, id("A"), false, v5, 60)
				h.connect(cid, id("B"), true, v5, 0)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectDiscarded)},
				{typ: events.SessionTerminated, conn: "B", reason: string(events.TerminateDiscarded)},
				{typ: events.SessionCreated, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: false},
			},
		},
		{
			name: "MQTT 5 clean start with expiry survives disconnect",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), true, v5, 60)
				a.disconnect(events.DisconnectNormal, 60)
				h.connect(cid, id("B"), false, v5, 60)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectNormal)},
				{typ: events.SessionResumed, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: true},
			},
		},
		{
			name: "MQTT 5 expiry set to zero at disconnect ends the session",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 60)
				a.disconnect(events.DisconnectNormal, 0)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: string(events.DisconnectNormal)},
				{typ: events.SessionTerminated, conn: "A", reason: string(events.TerminateNormal)},
			},
		},
		{
			name: "rejected connect creates nothing",
			run: func(h *harness, cid string, id func(string) string) {
				h.op(&session.Op{Kind: session.OpRejected, ClientID: cid, Conn: id("A"), Proto: v311, Connack: 4, Reason: "bad credentials"})
			},
			want: []want{{typ: events.ClientConnectRejected, conn: "A"}},
		},
		{
			name: "subscribe and unsubscribe",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 60)
				a.send(&session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: "a/+", QoS: 1}, {Filter: "b/#", QoS: 2, NoLocal: true}}})
				a.send(&session.Op{Kind: session.OpUnsubscribe, Filters: []string{"a/+"}})
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.SessionSubscribed, conn: "A"},
				{typ: events.SessionUnsubscribed, conn: "A"},
			},
		},
		{
			name: "admin disconnect of a persistent session",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 60)
				h.admin(cid, session.OpAdminDisconnect, a.epoch)
				// The frontend closes the connection and logs its end: stale.
				a.disconnect(events.DisconnectAdministrative, 60)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: "administrative"},
			},
		},
		{
			name: "admin disconnect of a clean session ends it",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), true, v311, 0)
				h.admin(cid, session.OpAdminDisconnect, a.epoch)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: "administrative"},
				{typ: events.SessionTerminated, conn: "A", reason: "administrative"},
			},
		},
		{
			name: "admin discard of an online session; a stale admin op does nothing",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 60)
				h.admin(cid, session.OpAdminDiscard, a.epoch)
				a.disconnect(events.DisconnectAdministrative, 60)
				h.connect(cid, id("B"), false, v5, 60)
				h.admin(cid, session.OpAdminDisconnect, a.epoch) // meant for A: fenced
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: "administrative"},
				{typ: events.SessionTerminated, reason: "administrative"},
				{typ: events.SessionCreated, conn: "B"},
				{typ: events.ClientConnected, conn: "B", present: false},
			},
		},
		{
			name: "admin discard of an offline session",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 60)
				a.disconnect(events.DisconnectNormal, 60)
				h.admin(cid, session.OpAdminDiscard, a.epoch)
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: "normal"},
				{typ: events.SessionTerminated, reason: "administrative"},
			},
		},
		{
			name: "admin unsubscribe of an offline session",
			run: func(h *harness, cid string, id func(string) string) {
				a, _ := h.connect(cid, id("A"), false, v5, 60)
				a.send(&session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: "a/+", QoS: 1}, {Filter: "b/#", QoS: 1}}})
				a.disconnect(events.DisconnectNormal, 60)
				h.admin(cid, session.OpAdminUnsubscribe, a.epoch, "a/+")
			},
			want: []want{
				{typ: events.SessionCreated, conn: "A"},
				{typ: events.ClientConnected, conn: "A"},
				{typ: events.SessionSubscribed, conn: "A"},
				{typ: events.ClientDisconnected, conn: "A", reason: "normal"},
				{typ: events.SessionUnsubscribed, reason: "administrative"},
			},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cid := "client-" + string(rune('a'+i))
			id := func(label string) string { return connID(cid, label) }
			tc.run(h, cid, id)
			h.marker(cid)
			var got []want
			for _, e := range h.sequence(cid) {
				got = append(got, summarize(e))
			}
			var exp []want
			for _, w := range tc.want {
				if w.conn != "" {
					w.conn = id(w.conn)
				}
				exp = append(exp, w)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Fatalf("events\n got %v\nwant %v", got, exp)
			}
		})
	}
	// Per-row state checks that events alone do not show.
	t.Run("state after rows", func(t *testing.T) {
		cases := []struct {
			cid     string
			exists  bool
			online  bool
			filters []string
		}{
			{"client-a", false, false, nil},
			{"client-b", true, true, nil},
			{"client-c", true, true, nil},
			{"client-h", false, false, nil},
			{"client-i", false, false, nil},
			{"client-j", true, true, []string{"b/#"}},
			{"client-k", true, false, nil},
			{"client-l", false, false, nil},
			{"client-m", true, true, nil},
			{"client-n", false, false, nil},
			{"client-o", true, false, []string{"b/#"}},
		}
		for _, c := range cases {
			st := h.load(c.cid)
			if st.Exists != c.exists || st.Meta.Online != c.online {
				t.Errorf("%s: exists=%v online=%v, want %v %v", c.cid, st.Exists, st.Meta.Online, c.exists, c.online)
			}
			var filters []string
			for _, s := range st.Subscriptions {
				filters = append(filters, s.Filter)
			}
			if !reflect.DeepEqual(filters, c.filters) {
				t.Errorf("%s: filters %v want %v", c.cid, filters, c.filters)
			}
		}
	})
	t.Run("administrative events name the operator", func(t *testing.T) {
		n := 0
		for _, cid := range []string{"client-k", "client-l", "client-m", "client-n", "client-o"} {
			for _, e := range h.sequence(cid) {
				switch d := e.Data.(type) {
				case *events.Disconnected:
					if d.Reason == events.DisconnectAdministrative {
						n++
						if d.Operator != "ops" || d.MQTTReasonCode == nil || *d.MQTTReasonCode != 0x98 {
							t.Errorf("%s: disconnected %+v, want operator ops and code 0x98", cid, d)
						}
					}
				case *events.Terminated:
					if d.Reason == events.TerminateAdministrative {
						n++
						if d.Operator != "ops" {
							t.Errorf("%s: terminated %+v, want operator ops", cid, d)
						}
					}
				case *events.Unsubscribed:
					if d.Reason == events.UnsubscribeAdministrative {
						n++
						if d.Operator != "ops" || !reflect.DeepEqual(d.Filters, []string{"a/+"}) {
							t.Errorf("%s: unsubscribed %+v", cid, d)
						}
					}
				}
			}
		}
		if n != 7 {
			t.Errorf("%d administrative events, want 7", n)
		}
	})
	h.checkEvents()
}
