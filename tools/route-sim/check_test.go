package main

import (
	"testing"
	"time"
)

func TestChecker(t *testing.T) {
	type rec struct {
		topic int
		seq   uint64
	}
	seqs := func(topic int, s ...uint64) []rec {
		out := make([]rec, len(s))
		for i, q := range s {
			out[i] = rec{topic, q}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		got      []rec
		expected map[int]int64
		want     verdict
	}{
		{"all in order", append(seqs(1, 0, 1, 2), seqs(2, 0, 1)...), map[int]int64{1: 3, 2: 2},
			verdict{Delivered: 5}},
		{"topics interleaved", []rec{{1, 0}, {2, 0}, {1, 1}, {2, 1}}, map[int]int64{1: 2, 2: 2},
			verdict{Delivered: 4}},
		{"nothing published", nil, map[int]int64{1: 0}, verdict{}},
		{"one missing in the middle", seqs(1, 0, 2), map[int]int64{1: 3},
			verdict{Delivered: 2, Missing: 1}},
		{"the last missing", seqs(1, 0, 1), map[int]int64{1: 3},
			verdict{Delivered: 2, Missing: 1}},
		{"a topic never delivered", seqs(1, 0), map[int]int64{1: 1, 2: 4},
			verdict{Delivered: 1, Missing: 4}},
		{"a duplicate", seqs(1, 0, 1, 1, 2), map[int]int64{1: 3},
			verdict{Delivered: 3, Duplicate: 1}},
		{"a duplicate of an earlier one", seqs(1, 0, 1, 2, 0), map[int]int64{1: 3},
			verdict{Delivered: 3, Duplicate: 1}},
		{"out of order", seqs(1, 0, 2, 1), map[int]int64{1: 3},
			verdict{Delivered: 3, OutOfOrder: 1}},
		{"order across a word of the bitset", seqs(1, 63, 64, 0), map[int]int64{1: 65},
			verdict{Delivered: 3, Missing: 62, OutOfOrder: 1}},
		{"beyond what was published", seqs(1, 0, 1, 5), map[int]int64{1: 2},
			verdict{Delivered: 2, Unexpected: 1}},
		{"a topic not wanted", append(seqs(1, 0), seqs(3, 0, 0)...), map[int]int64{1: 1},
			verdict{Delivered: 1, Unexpected: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChecker()
			for _, r := range tc.got {
				c.add(r.topic, r.seq)
			}
			got := c.verify(tc.expected)
			if got != tc.want {
				t.Errorf("verify = %+v, want %+v", got, tc.want)
			}
			if got.ok() != (tc.want == verdict{Delivered: tc.want.Delivered}) {
				t.Errorf("ok() = %v for %+v", got.ok(), got)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// Field 2 with a space and a ')' in it, utime 250 and stime 50 ticks.
	stat := "5444 (java) x) S 1 5444 5444 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0 1000 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	if _, err := parseStatCPU("5444 (java) S 1"); err == nil {
		t.Fatal("a short line parsed")
	}
}
