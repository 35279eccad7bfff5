package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// hit is one (subscriber, filter) pair reported by Index.Match.
type hit struct {
	k      string
	filter string
	qos    byte
}

func matchAll(ix *Index[string, byte], name string) []hit {
	var hits []hit
	ix.Match(name, func(k, f string, q byte) { hits = append(hits, hit{k, f, q}) })
	slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(a.k+" "+a.filter, b.k+" "+b.filter) })
	return hits
}

func TestIndexMatchesSpecCases(t *testing.T) {
	ix := NewIndex[string, byte]()
	for i, c := range matchCases {
		ix.Subscribe(fmt.Sprint("s", i), c.filter, 1)
	}
	for i, c := range matchCases {
		t.Run(c.filter+" "+c.name, func(t *testing.T) {
			found := false
			for _, h := range matchAll(ix, c.name) {
				if h.k == fmt.Sprint("s", i) {
					found = true
				}
				if !Match(h.filter, c.name) {
					t.Errorf("index reported %q for %q, which does not match", h.filter, c.name)
				}
			}
			if found != c.want {
				t.Fatalf("index match of %q against %q = %v, want %v", c.filter, c.name, found, c.want)
			}
		})
	}
}

func TestIndexLifecycle(t *testing.T) {
	type op struct {
		do     string // sub, unsub, remove
		k      string
		filter string
		qos    byte
		want   bool // replaced / existed
	}
	tests := []struct {
		name    string
		ops     []op
		topic   string
		want    []hit
		wantLen int
	}{
		{
			name:    "overlapping filters reported per filter",
			ops:     []op{{"sub", "c1", "a/+", 1, false}, {"sub", "c1", "a/#", 2, false}, {"sub", "c2", "a/b", 0, false}},
			topic:   "a/b",
			want:    []hit{{"c1", "a/#", 2}, {"c1", "a/+", 1}, {"c2", "a/b", 0}},
			wantLen: 3,
		},
		{
			name:    "resubscribe replaces options",
			ops:     []op{{"sub", "c1", "a/b", 0, false}, {"sub", "c1", "a/b", 2, true}},
			topic:   "a/b",
			want:    []hit{{"c1", "a/b", 2}},
			wantLen: 1,
		},
		{
			name:    "unsubscribe removes one filter",
			ops:     []op{{"sub", "c1", "a/b", 1, false}, {"sub", "c1", "a/#", 1, false}, {"unsub", "c1", "a/b", 0, true}, {"unsub", "c1", "a/b", 0, false}},
			topic:   "a/b",
			want:    []hit{{"c1", "a/#", 1}},
			wantLen: 1,
		},
		{
			name:    "unsubscribe of another subscriber's filter is a no-op",
			ops:     []op{{"sub", "c1", "a/b", 1, false}, {"unsub", "c2", "a/b", 0, false}},
			topic:   "a/b",
			want:    []hit{{"c1", "a/b", 1}},
			wantLen: 1,
		},
		{
			name:    "remove drops every filter of one subscriber",
			ops:     []op{{"sub", "c1", "a/b", 1, false}, {"sub", "c1", "#", 1, false}, {"sub", "c2", "+/b", 1, false}, {"remove", "c1", "", 0, true}},
			topic:   "a/b",
			want:    []hit{{"c2", "+/b", 1}},
			wantLen: 1,
		},
		{
			name:    "dollar topics skip leading wildcards",
			ops:     []op{{"sub", "c1", "#", 1, false}, {"sub", "c2", "+/x", 1, false}, {"sub", "c3", "$SYS/#", 1, false}, {"sub", "c4", "$SYS/+", 1, false}},
			topic:   "$SYS/x",
			want:    []hit{{"c3", "$SYS/#", 1}, {"c4", "$SYS/+", 1}},
			wantLen: 4,
		},
		{
			name:    "hash matches parent level",
			ops:     []op{{"sub", "c1", "a/#", 1, false}, {"sub", "c2", "a/+", 1, false}},
			topic:   "a",
			want:    []hit{{"c1", "a/#", 1}},
			wantLen: 2,
		},
		{
			name:    "empty levels",
			ops:     []op{{"sub", "c1", "/+", 1, false}, {"sub", "c2", "+", 1, false}, {"sub", "c3", "//", 1, false}, {"sub", "c4", "+/+/+", 1, false}},
			topic:   "//",
			want:    []hit{{"c3", "//", 1}, {"c4", "+/+/+", 1}},
			wantLen: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex[string, byte]()
			for _, o := range tt.ops {
				var got bool
				switch o.do {
				case "sub":
					got = ix.Subscribe(o.k, o.filter, o.qos)
				case "unsub":
					got = ix.Unsubscribe(o.k, o.filter)
				case "remove":
					got = ix.Remove(o.k) > 0
				}
				if got != o.want {
					t.Fatalf("%s(%s, %q) = %v, want %v", o.do, o.k, o.filter, got, o.want)
				}
			}
			if got := matchAll(ix, tt.topic); !slices.Equal(got, tt.want) {
				t.Fatalf("Match(%q) = %v, want %v", tt.topic, got, tt.want)
			}
			if ix.Len() != tt.wantLen {
				t.Fatalf("Len() = %d, want %d", ix.Len(), tt.wantLen)
			}
		})
	}
}

func TestIndexZeroValue(t *testing.T) {
	var ix Index[string, byte]
	ix.Match("a", func(string, string, byte) { t.Fatal("empty index matched") })
	if ix.Unsubscribe("c", "a") || ix.Remove("c") != 0 || ix.Len() != 0 {
		t.Fatal("empty index removed something")
	}
	ix.Subscribe("c", "a", 1)
	if got := matchAll(&ix, "a"); !slices.Equal(got, []hit{{"c", "a", 1}}) {
		t.Fatalf("Match = %v", got)
	}
}

// TestIndexPrunes checks that removing every subscription leaves an empty
// trie, so churn does not leak nodes.
func TestIndexPrunes(t *testing.T) {
	ix := NewIndex[int, byte]()
	filters := []string{"a/b/c", "a/+/c", "a/#", "#", "+", "/", "a//b", "x/y/z/#"}
	for i, f := range filters {
		ix.Subscribe(i, f, 0)
		ix.Subscribe(i+100, f, 0)
	}
	for i, f := range filters {
		if !ix.Unsubscribe(i, f) {
			t.Fatalf("Unsubscribe(%d, %q) = false", i, f)
		}
		if n := ix.Remove(i + 100); n != 1 {
			t.Fatalf("Remove(%d) = %d, want 1", i+100, n)
		}
	}
	if ix.Len() != 0 || !ix.root.empty() || len(ix.byKey) != 0 {
		t.Fatalf("index not empty after removing everything: len %d, root %+v", ix.Len(), ix.root)
	}
}

// TestIndexAgainstMatch compares the index with Match over random filters
// and names drawn from a small alphabet, so that many of them match.
func TestIndexAgainstMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "", "$x"}
	gen := func(wild bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
			if wild && rng.IntN(4) == 0 {
				parts[i] = "+"
			}
		}
		if wild && rng.IntN(4) == 0 {
			parts[n-1] = "#"
		}
		return strings.Join(parts, "/")
	}
	ix := NewIndex[int, byte]()
	var filters []string
	for i := range 300 {
		f := gen(true)
		filters = append(filters, f)
		ix.Subscribe(i, f, 0)
	}
	for range 1000 {
		name := gen(false)
		var want []int
		for i, f := range filters {
			if Match(f, name) {
				want = append(want, i)
			}
		}
		var got []int
		ix.Match(name, func(k int, _ string, _ byte) { got = append(got, k) })
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("Match(%q): index %v, brute force %v", name, got, want)
		}
	}
}

// benchIndex builds an index of n subscriptions shaped like a device fleet:
// 70% exact device topics, 20% with '+', 10% ending in '#'.
func benchIndex(n int) (*Index[int, byte], []string) {
	rng := rand.New(rand.NewPCG(3, 4))
	ix := NewIndex[int, byte]()
	names := make([]string, 0, 1024)
	for i := range n {
		site, dev := rng.IntN(100), rng.IntN(10000)
		var f string
		switch r := rng.IntN(10); {
		case r < 7:
			f = fmt.Sprintf("site/%d/dev/%d/telemetry", site, dev)
		case r < 9:
			f = fmt.Sprintf("site/%d/dev/+/telemetry", site)
		default:
			f = fmt.Sprintf("site/%d/dev/%d/#", site, dev)
		}
		ix.Subscribe(i, f, 1)
		if len(names) < cap(names) {
			names = append(names, fmt.Sprintf("site/%d/dev/%d/telemetry", site, dev))
		}
	}
	return ix, names
}

func BenchmarkIndexMatch100k(b *testing.B) {
	ix, names := benchIndex(100_000)
	b.ReportAllocs()
	b.ResetTimer()
	hits := 0
	i := 0
	for b.Loop() {
		ix.Match(names[i%len(names)], func(int, string, byte) { hits++ })
		i++
	}
	if hits == 0 {
		b.Fatal("no matches")
	}
}

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Match("site/+/dev/+/telemetry/#", "site/42/dev/1234/telemetry/temp")
	}
}

func BenchmarkIndexSubscribeUnsubscribe(b *testing.B) {
	ix, _ := benchIndex(100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ix.Subscribe(-1, "site/7/dev/77/cmd/#", 1)
		ix.Unsubscribe(-1, "site/7/dev/77/cmd/#")
	}
}
