package sessiond

import (
	"reflect"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestStaleOpsChangeNothing: after a takeover, every kind of op from the
// old connection (lower epoch) leaves the session as the new connection
// made it, and announces nothing.
func TestStaleOpsChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	cases := []struct {
		name string
		op   session.Op
	}{
		{"subscribe", session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: "stale/#", QoS: 1}}}},
		{"unsubscribe", session.Op{Kind: session.OpUnsubscribe, Filters: []string{"live/#"}}},
		{"progress", session.Op{Kind: session.OpProgress, Cursor: map[int]int64{0: 99}, Inflight: []session.Inflight{{PacketID: 7, QoS: 1, State: session.InflightSent}}}},
		{"qos2_out", session.Op{Kind: session.OpQoS2Out, PacketID: 8, Partition: 1, Offset: 5}},
		{"qos2_in", session.Op{Kind: session.OpQoS2In, PacketID: 9}},
		{"qos2_rel", session.Op{Kind: session.OpQoS2Rel, PacketID: 3}},
		{"disconnect", session.Op{Kind: session.OpDisconnect, Reason: string(events.DisconnectTakenOver), Expiry: 60}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cid := "fence-" + string(rune('a'+i))
			a, _ := h.connect(cid, connID(cid, "A"), false, 5, 60)
			b, _ := h.connect(cid, connID(cid, "B"), false, 5, 60)
			b.send(&session.Op{Kind: session.OpSubscribe, Subs: []session.Subscription{{Filter: "live/#", QoS: 2}}})
			b.send(&session.Op{Kind: session.OpProgress, Cursor: map[int]int64{0: 4}})
			b.send(&session.Op{Kind: session.OpQoS2In, PacketID: 3})
			h.marker(cid)
			before := h.load(cid)
			n := len(h.sequence(cid))

			op := tc.op
			a.send(&op)
			h.marker(cid)
			after := h.load(cid)
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("stale %s changed the session\nbefore %+v\nafter  %+v", tc.name, before, after)
			}
			if got := h.sequence(cid); len(got) != n {
				t.Fatalf("stale %s announced %s", tc.name, describe(got[n:]))
			}
			if before.Epoch != b.epoch || !before.Meta.Online || before.Meta.Conn != b.id {
				t.Fatalf("session not owned by B: %+v", before.Meta)
			}
		})
	}
	h.checkEvents()
}

// TestWaitAppliedPresent checks Session Present as a frontend reads it,
// and that a superseded connect learns it lost.
func TestWaitAppliedPresent(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	const cid = "present"
	steps := []struct {
		name    string
		clean   bool
		proto   byte
		expiry  uint32
		present bool
	}{
		{"first persistent connect", false, 4, 0, false},
		{"resume", false, 4, 0, true},
		{"resume with MQTT 5", false, 5, 60, true},
		{"clean start discards", true, 5, 60, false},
		{"resume after clean start with expiry", false, 5, 60, true},
		{"3.1.1 clean session", true, 4, 0, false},
		{"clean session is not resumable", false, 4, 0, false},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			c, st := h.connect(cid, connID(cid, string(rune('A'+i))), s.clean, s.proto, s.expiry)
			if st.Present != s.present || st.Epoch != c.epoch {
				t.Fatalf("present=%v epoch=%d, want present=%v epoch=%d", st.Present, st.Epoch, s.present, c.epoch)
			}
			c.disconnect(events.DisconnectNormal, s.expiry)
		})
	}
	t.Run("superseded", func(t *testing.T) {
		first := h.op(&session.Op{Kind: session.OpConnect, ClientID: cid, Conn: connID(cid, "X"), Proto: 4})
		c, _ := h.connect(cid, connID(cid, "Y"), false, 4, 0)
		if _, err := h.reader.WaitApplied(t.Context(), partOf(cid), cid, first); err != session.ErrSuperseded {
			t.Fatalf("wait older epoch %d (newest %d): %v", first, c.epoch, err)
		}
	})
	h.checkEvents()
}
