package liveness

import (
	"testing"
	"time"
)

// clock is a settable clock for the Tracker's judgements.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestTracker(timeout time.Duration) (*Tracker, *clock) {
	c := &clock{t: time.UnixMilli(1_000_000)}
	t := NewTracker(TrackerConfig{Topic: "nodes", Timeout: timeout})
	t.now = c.now
	t.Witness("self")
	return t, c
}

// TestJudge walks the Tracker through the lives of incarnations and checks
// each verdict: a step either feeds a record (at the clock's time) or
// moves the clock, then asks about an incarnation.
func TestJudge(t *testing.T) {
	const timeout = 4 * time.Second
	beat := func(kind, node, inc string, ts int64) *Beat {
		return &Beat{Kind: kind, Node: node, Inc: inc, Role: RoleFrontend, TS: ts}
	}
	type step struct {
		advance time.Duration // clock moves first
		feed    []*Beat
		inc     string
		node    string
		want    Verdict
	}
	self := func(ts int64) *Beat {
		return &Beat{Kind: KindBeat, Node: "sd", Inc: "self", Role: RoleSessiond, TS: ts}
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"beating is alive", []step{
			{feed: []*Beat{self(1), beat(KindAnnounce, "fe", "a", 10)}, inc: "a", node: "fe"},
			{advance: 3 * time.Second, feed: []*Beat{self(2), beat(KindBeat, "fe", "a", 20)}, inc: "a", node: "fe"},
			{advance: 3 * time.Second, feed: []*Beat{self(3)}, inc: "a", node: "fe"},
		}},
		{"silent past the timeout is dead, last alive at its last beat", []step{
			{feed: []*Beat{self(1), beat(KindAnnounce, "fe", "a", 10)}, inc: "a", node: "fe"},
			{advance: 3 * time.Second, feed: []*Beat{self(2), beat(KindBeat, "fe", "a", 20)}, inc: "a", node: "fe"},
			{advance: 1500 * time.Millisecond, feed: []*Beat{self(3)}},
			{advance: 1500 * time.Millisecond, feed: []*Beat{self(4)}},
			{advance: 1500 * time.Millisecond, feed: []*Beat{self(5)}, inc: "a", node: "fe", want: Verdict{Dead: true, Reason: DownTimeout, LastAlive: 20}},
		}},
		{"a deaf reader declares nobody dead, and forgives the silence it missed", []step{
			{feed: []*Beat{self(1), beat(KindAnnounce, "fe", "a", 10)}, inc: "a", node: "fe"},
			{advance: 10 * time.Second, inc: "a", node: "fe"},
			{feed: []*Beat{self(2)}, inc: "a", node: "fe"},
			{advance: 2 * time.Second, feed: []*Beat{self(3)}, inc: "a", node: "fe"},
			{advance: 2 * time.Second, feed: []*Beat{self(4)}, inc: "a", node: "fe"},
			{advance: 1 * time.Second, feed: []*Beat{self(5)}, inc: "a", node: "fe", want: Verdict{Dead: true, Reason: DownTimeout, LastAlive: 10}},
		}},
		{"a restart supersedes at once", []step{
			{feed: []*Beat{self(1), beat(KindAnnounce, "fe", "a", 10), beat(KindBeat, "fe", "a", 11)}, inc: "a", node: "fe"},
			{feed: []*Beat{beat(KindAnnounce, "fe", "b", 30)}, inc: "a", node: "fe", want: Verdict{Dead: true, Reason: DownRestarted, LastAlive: 11}},
			{inc: "b", node: "fe"},
		}},
		{"a renewal supersedes at once, and a late beat of the renewed incarnation changes nothing", []step{
			{feed: []*Beat{self(1), {Kind: KindAnnounce, Node: "fe", Inc: "a", Role: RoleFrontend, Started: 5, TS: 10}}, inc: "a", node: "fe"},
			{feed: []*Beat{{Kind: KindAnnounce, Node: "fe", Inc: "b", Role: RoleFrontend, Started: 5, Gen: 1, TS: 30}}, inc: "b", node: "fe"},
			// Written by "a" while the process renewed, read after "b".
			{feed: []*Beat{{Kind: KindBeat, Node: "fe", Inc: "a", Role: RoleFrontend, Started: 5, TS: 31}}, inc: "b", node: "fe"},
			{inc: "a", node: "fe", want: Verdict{Dead: true, Reason: DownRestarted, LastAlive: 31}},
		}},
		{"a frontend and a session service of one node name are two processes", []step{
			{feed: []*Beat{beat(KindAnnounce, "sd", "a", 10), self(11)}, inc: "a", node: "sd"},
			{advance: time.Second, feed: []*Beat{beat(KindBeat, "sd", "a", 12), self(12)}, inc: "a", node: "sd"},
		}},
		{"down stays down", []step{
			{feed: []*Beat{self(1), beat(KindAnnounce, "fe", "a", 10)}, inc: "a", node: "fe"},
			{feed: []*Beat{{Kind: KindDown, Node: "fe", Inc: "a", TS: 10, Reason: DownStopped}}, inc: "a", node: "fe", want: Verdict{Dead: true, Reason: DownStopped, LastAlive: 10}},
			{feed: []*Beat{beat(KindBeat, "fe", "a", 40)}, inc: "a", node: "fe", want: Verdict{Dead: true, Reason: DownStopped, LastAlive: 10}},
		}},
		{"never seen: dead after the timeout", []step{
			{feed: []*Beat{self(1)}, inc: "ghost", node: "fe"},
			{advance: 2 * time.Second, feed: []*Beat{self(2)}, inc: "ghost", node: "fe"},
			{advance: 2100 * time.Millisecond, feed: []*Beat{self(3)}, inc: "ghost", node: "fe", want: Verdict{Dead: true, Reason: DownTimeout, LastAlive: 1_000_000}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, c := newTestTracker(timeout)
			for i, s := range tc.steps {
				c.t = c.t.Add(s.advance)
				for _, b := range s.feed {
					tr.Observe(b)
				}
				if s.inc == "" {
					continue
				}
				if got := tr.Judge(s.inc, s.node); got != s.want {
					t.Fatalf("step %d: %s judged %+v, want %+v", i, s.inc, got, s.want)
				}
			}
		})
	}
}

// TestNodes: the listing an operator sees, one state per incarnation.
func TestNodes(t *testing.T) {
	tr, c := newTestTracker(4 * time.Second)
	for _, b := range []*Beat{
		{Kind: KindAnnounce, Node: "fe-1", Inc: "old", Role: RoleFrontend, Started: 5, TS: 5},
		{Kind: KindAnnounce, Node: "fe-1", Inc: "new", Role: RoleFrontend, Started: 9, TS: 9, Conns: 3, Version: "v1"},
		{Kind: KindAnnounce, Node: "fe-2", Inc: "quiet", Role: RoleFrontend, Started: 6, TS: 6},
		{Kind: KindAnnounce, Node: "fe-3", Inc: "gone", Role: RoleFrontend, Started: 7, TS: 7},
		{Kind: KindDown, Node: "fe-3", Inc: "gone", TS: 8, Reason: DownStopped, By: "fe-3"},
	} {
		tr.Observe(b)
	}
	c.t = c.t.Add(5 * time.Second)
	tr.Observe(&Beat{Kind: KindBeat, Node: "fe-1", Inc: "new", Role: RoleFrontend, Started: 9, TS: 20, Conns: 4, Version: "v1"})
	want := []NodeStatus{
		{Node: "fe-1", Inc: "old", Role: RoleFrontend, State: StateSuperseded, Started: time.UnixMilli(5), LastBeat: time.UnixMilli(5)},
		{Node: "fe-1", Inc: "new", Role: RoleFrontend, Version: "v1", Conns: 4, State: StateAlive, Started: time.UnixMilli(9), LastBeat: time.UnixMilli(20)},
		{Node: "fe-2", Inc: "quiet", Role: RoleFrontend, State: StateSilent, Started: time.UnixMilli(6), LastBeat: time.UnixMilli(6)},
		{Node: "fe-3", Inc: "gone", Role: RoleFrontend, State: StateDown, DownReason: DownStopped, Started: time.UnixMilli(7), LastBeat: time.UnixMilli(7)},
	}
	got := tr.Nodes()
	if len(got) != len(want) {
		t.Fatalf("nodes %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("node %d: got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if n := tr.Alive(RoleFrontend); n != 1 {
		t.Errorf("alive frontends %d, want 1", n)
	}
}
