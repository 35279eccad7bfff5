package main

import "math/bits"

// checker follows what one node received, per topic, to prove that routing
// loses, repeats and reorders nothing. Sequence numbers are per topic and
// dense from 0, as the publisher assigns them. Not safe for concurrent use;
// the node serialises its handler.
type checker struct {
	streams map[int]*stream
}

// stream is one topic's deliveries at one node.
type stream struct {
	seen     []uint64 // bit per sequence number received
	last     int64    // highest sequence number received so far, -1 for none
	distinct int64
	dup      int64
	reorder  int64
}

// verdict is a node's (or, summed, the whole run's) delivery account.
type verdict struct {
	Delivered  int64 `json:"delivered"`    // distinct expected records received
	Missing    int64 `json:"missing"`      // expected records never received
	Duplicate  int64 `json:"duplicate"`    // records received more than once (extra copies)
	OutOfOrder int64 `json:"out_of_order"` // records received after a later one of their topic
	Unexpected int64 `json:"unexpected"`   // records of topics the node does not want, or beyond what was published
}

func newChecker() *checker { return &checker{streams: map[int]*stream{}} }

// add records that the node delivered sequence number seq of topic t.
func (c *checker) add(t int, seq uint64) {
	s := c.streams[t]
	if s == nil {
		s = &stream{last: -1}
		c.streams[t] = s
	}
	w, b := seq/64, seq%64
	if w >= uint64(len(s.seen)) {
		s.seen = append(s.seen, make([]uint64, w+1-uint64(len(s.seen)))...)
	}
	if s.seen[w]&(1<<b) != 0 {
		s.dup++
		return
	}
	s.seen[w] |= 1 << b
	s.distinct++
	if int64(seq) < s.last {
		s.reorder++
	} else {
		s.last = int64(seq)
	}
}

// distinct counts the different records delivered so far, wanted or not:
// the drain waits for it to reach what the node expects.
func (c *checker) distinct() int64 {
	var n int64
	for _, s := range c.streams {
		n += s.distinct
	}
	return n
}

// verify compares the deliveries with expected, the number of records
// published on each topic the node wants.
func (c *checker) verify(expected map[int]int64) verdict {
	var v verdict
	for t, want := range expected {
		s := c.streams[t]
		if s == nil {
			v.Missing += want
			continue
		}
		got := s.countBelow(want)
		v.Delivered += got
		v.Missing += want - got
		v.Unexpected += s.distinct - got
		v.Duplicate += s.dup
		v.OutOfOrder += s.reorder
	}
	for t, s := range c.streams {
		if _, ok := expected[t]; !ok {
			v.Unexpected += s.distinct + s.dup
		}
	}
	return v
}

// countBelow counts the sequence numbers below n that were received.
func (s *stream) countBelow(n int64) int64 {
	var got int64
	for w, word := range s.seen {
		lo := int64(w) * 64
		if lo >= n {
			break
		}
		if n-lo < 64 {
			word &= 1<<uint(n-lo) - 1
		}
		got += int64(bits.OnesCount64(word))
	}
	return got
}

// add sums two verdicts.
func (v verdict) add(o verdict) verdict {
	return verdict{v.Delivered + o.Delivered, v.Missing + o.Missing, v.Duplicate + o.Duplicate,
		v.OutOfOrder + o.OutOfOrder, v.Unexpected + o.Unexpected}
}

// ok reports whether every expected record arrived exactly once and in order.
func (v verdict) ok() bool {
	return v.Missing == 0 && v.Duplicate == 0 && v.OutOfOrder == 0 && v.Unexpected == 0
}
