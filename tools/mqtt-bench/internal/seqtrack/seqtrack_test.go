package seqtrack

import "testing"

type obs struct {
	pub uint32
	seq uint64
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name     string
		obs      []obs
		sent     map[uint32]uint64
		want     Counts
		outcomes []Outcome // optional: per observation
	}{
		{
			name: "all in order",
			obs:  []obs{{0, 0}, {0, 1}, {0, 2}},
			sent: map[uint32]uint64{0: 3},
			want: Counts{Received: 3}, outcomes: []Outcome{InOrder, InOrder, InOrder},
		},
		{
			name: "one lost one duplicated",
			obs:  []obs{{0, 0}, {0, 1}, {0, 1}, {0, 3}},
			sent: map[uint32]uint64{0: 4},
			want: Counts{Received: 4, Lost: 1, Duplicated: 1}, outcomes: []Outcome{InOrder, InOrder, Duplicate, InOrder},
		},
		{
			name: "reordered",
			obs:  []obs{{0, 1}, {0, 0}, {0, 2}},
			sent: map[uint32]uint64{0: 3},
			want: Counts{Received: 3, OutOfOrder: 1}, outcomes: []Outcome{InOrder, OutOfOrder, InOrder},
		},
		{
			name: "order is per publisher",
			obs:  []obs{{1, 5}, {0, 0}, {1, 6}, {0, 1}},
			sent: map[uint32]uint64{0: 2, 1: 7},
			want: Counts{Received: 4, Lost: 5},
		},
		{
			name: "nothing received from an expected publisher",
			sent: map[uint32]uint64{0: 10, 3: 64},
			want: Counts{Lost: 74},
		},
		{
			name: "word boundaries",
			obs:  []obs{{0, 63}, {0, 64}, {0, 127}, {0, 128}},
			sent: map[uint32]uint64{0: 129},
			want: Counts{Received: 4, Lost: 125},
		},
		{
			name: "unexpected publisher and sequence beyond sent",
			obs:  []obs{{0, 0}, {0, 5}, {2, 0}},
			sent: map[uint32]uint64{0: 1},
			want: Counts{Received: 3, Unexpected: 2},
		},
		{
			name: "invalid pairs",
			obs:  []obs{{MaxPublishers, 0}, {0, MaxSeq}},
			sent: map[uint32]uint64{},
			want: Counts{Received: 2, Invalid: 2}, outcomes: []Outcome{Invalid, Invalid},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr Tracker
			for i, o := range tt.obs {
				got := tr.Observe(o.pub, o.seq)
				if tt.outcomes != nil && got != tt.outcomes[i] {
					t.Errorf("observe %d (%d,%d) = %v, want %v", i, o.pub, o.seq, got, tt.outcomes[i])
				}
			}
			if got := tr.Counts(tt.sent); got != tt.want {
				t.Errorf("counts = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMergeSharedGroup(t *testing.T) {
	// Two members of a shared group split publisher 0's 200 messages; the
	// broker lost 10 and gave 3 to both members.
	var a, b Tracker
	for s := uint64(0); s < 200; s++ {
		switch {
		case s >= 100 && s < 110: // lost
		case s%2 == 0:
			a.Observe(0, s)
		default:
			b.Observe(0, s)
		}
	}
	for _, s := range []uint64{2, 4, 199} {
		if s%2 == 0 {
			b.Observe(0, s)
		} else {
			a.Observe(0, s)
		}
	}
	a.Merge(&b)
	// b saw 2 and 4 after 197: late for b, so out of order there as well
	// as duplicates of the group.
	want := Counts{Received: 193, Lost: 10, Duplicated: 3, OutOfOrder: 2}
	if got := a.Counts(map[uint32]uint64{0: 200}); got != want {
		t.Errorf("merged counts = %+v, want %+v", got, want)
	}
}

// BenchmarkObserve is the per-delivery cost on a subscriber's read loop.
func BenchmarkObserve(b *testing.B) {
	var tr Tracker
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		tr.Observe(uint32(seq%8), seq/8%MaxSeq)
		seq++
	}
}

func TestCountRange(t *testing.T) {
	var tr Tracker
	for _, s := range []uint64{0, 1, 2, 63, 64, 65, 130, 130} {
		tr.Observe(3, s)
	}
	tests := []struct {
		pub      uint32
		from, to uint64
		want     uint64
	}{
		{3, 0, 3, 3},
		{3, 2, 64, 2},   // 2 and 63
		{3, 63, 131, 4}, // 63, 64, 65, 130 (the duplicate once)
		{3, 131, 1000, 0},
		{3, 5, 5, 0},
		{3, 10, 5, 0},
		{9, 0, 100, 0}, // never seen
	}
	for _, tt := range tests {
		if got := tr.CountRange(tt.pub, tt.from, tt.to); got != tt.want {
			t.Errorf("CountRange(%d, %d, %d) = %d, want %d", tt.pub, tt.from, tt.to, got, tt.want)
		}
	}
}
