package frontend

import (
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestRepeatGuard: which live deliveries a session resumed at router
// positions sw had already, and when the guard can go.
func TestRepeatGuard(t *testing.T) {
	st := &session.State{
		Cursor:        map[int]int64{0: 10, 1: 3},
		Subscriptions: []session.Subscription{{Filter: "a/#"}, {Filter: "$share/g/b/#"}},
		Inflight: []session.Inflight{
			{PacketID: 1, Partition: 0, Offset: 12, State: session.InflightSent},
			{PacketID: 2, Partition: 0, Offset: 13, State: session.InflightPubrec},
			{PacketID: 3, Partition: 0, Offset: 4, State: session.InflightSent}, // below sw
		},
		Queue: []session.QueueRef{{Partition: 0, Offset: 15}, {Partition: 0, Offset: 9}},
	}
	sw := map[int]int64{0: 5, 1: 3}
	g := newRepeatGuard(st, pendingQueue(st), sw)
	live := func(p int, off int64, topic string) *delivery {
		return &delivery{msg: &message{partition: p, offset: off, topic: topic}}
	}
	tests := []struct {
		name string
		d    *delivery
		want bool
	}{
		{"below the cursor, matched by a subscription then", live(0, 7, "a/x"), true},
		{"below the cursor, matched only by a later one", live(0, 7, "c/x"), false},
		{"below the cursor, shared filters do not count", live(0, 7, "b/x"), false},
		{"at the cursor", live(0, 10, "a/x"), false},
		{"inflight, sent", live(0, 12, "a/x"), true},
		{"inflight, past PUBREC", live(0, 13, "a/x"), true},
		{"queued", live(0, 15, "a/x"), true},
		{"after everything", live(0, 16, "a/x"), false},
		{"a partition where the router was not behind", live(1, 2, "a/x"), false},
		{"a retained copy", &delivery{msg: &message{offset: -1, topic: "a/x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.repeats(tt.d); got != tt.want {
				t.Fatalf("repeats = %v, want %v", got, tt.want)
			}
		})
	}
	if g.passed(map[int]int64{0: 15, 1: 3}) {
		t.Error("passed before the router reached the last queued record")
	}
	if !g.passed(map[int]int64{0: 16, 1: 3}) {
		t.Error("not passed with the router beyond every record")
	}
	if g := newRepeatGuard(st, pendingQueue(st), map[int]int64{0: 16, 1: 3}); g != nil {
		t.Errorf("a guard for a router ahead of the session: %+v", g)
	}
}
