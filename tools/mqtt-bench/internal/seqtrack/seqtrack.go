// Package seqtrack finds lost, duplicated and reordered messages. Every
// message the load tool publishes carries (publisher, sequence); a Tracker
// per receiving subscriber (or per shared-subscription group, merged from
// its members) remembers which pairs arrived, so at the end lost = sent -
// distinct received, per publisher.
package seqtrack

import "math/bits"

// Bounds that keep a corrupt payload from allocating without limit (at most
// 16 MiB of bitset per publisher); pairs outside them count as Invalid. They
// are above the load tool's own caps on connections and messages.
const (
	MaxPublishers = 1 << 17
	MaxSeq        = 1 << 27
)

type pubState struct {
	seen   []uint64 // bitset of sequences received
	max    int64    // highest sequence received, -1 before the first
	unique uint64
}

// Tracker is not safe for concurrent use: one goroutine observes.
type Tracker struct {
	pubs       []pubState
	received   uint64
	duplicated uint64
	outOfOrder uint64
	invalid    uint64
}

// Outcome classifies one observation.
type Outcome int

// Outcomes of Observe.
const (
	InOrder    Outcome = iota // first arrival, after every earlier sequence seen so far
	OutOfOrder                // first arrival, but a higher sequence arrived before it
	Duplicate                 // this (publisher, sequence) arrived before
	Invalid                   // outside MaxPublishers/MaxSeq
)

// Observe records that (pub, seq) arrived.
func (t *Tracker) Observe(pub uint32, seq uint64) Outcome {
	t.received++
	if pub >= MaxPublishers || seq >= MaxSeq {
		t.invalid++
		return Invalid
	}
	for int(pub) >= len(t.pubs) {
		t.pubs = append(t.pubs, pubState{max: -1})
	}
	p := &t.pubs[pub]
	word, bit := seq/64, uint64(1)<<(seq%64)
	if word >= uint64(len(p.seen)) {
		n := max(word+1, uint64(2*len(p.seen)))
		grown := make([]uint64, n)
		copy(grown, p.seen)
		p.seen = grown
	}
	if p.seen[word]&bit != 0 {
		t.duplicated++
		return Duplicate
	}
	p.seen[word] |= bit
	p.unique++
	if int64(seq) < p.max {
		t.outOfOrder++
		return OutOfOrder
	}
	p.max = int64(seq)
	return InOrder
}

// Merge folds o into t, as when members of a shared subscription group each
// tracked what they received: a pair both saw is a duplicate of the group.
// Out-of-order counts are summed (order is only defined per member).
func (t *Tracker) Merge(o *Tracker) {
	t.received += o.received
	t.duplicated += o.duplicated
	t.outOfOrder += o.outOfOrder
	t.invalid += o.invalid
	for len(t.pubs) < len(o.pubs) {
		t.pubs = append(t.pubs, pubState{max: -1})
	}
	for i := range o.pubs {
		src, dst := &o.pubs[i], &t.pubs[i]
		if len(dst.seen) < len(src.seen) {
			grown := make([]uint64, len(src.seen))
			copy(grown, dst.seen)
			dst.seen = grown
		}
		for w, b := range src.seen {
			both := dst.seen[w] & b
			t.duplicated += uint64(popcount(both))
			dst.seen[w] |= b
		}
		dst.unique = 0
		for _, b := range dst.seen {
			dst.unique += uint64(popcount(b))
		}
		dst.max = max(dst.max, src.max)
	}
}

// Counts is the verdict for one receiver.
type Counts struct {
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	OutOfOrder uint64 `json:"out_of_order"`
	// Unexpected counts distinct pairs from publishers the receiver was not
	// expecting or beyond what they sent (leftovers of an earlier run);
	// Invalid counts pairs outside the tracker's bounds.
	Unexpected uint64 `json:"unexpected"`
	Invalid    uint64 `json:"invalid"`
}

// Counts compares what arrived with what was sent: sent[pub] is the number of
// messages publisher pub sent (sequences 0..n-1) that this receiver should
// have got; publishers absent from sent were not expected here.
func (t *Tracker) Counts(sent map[uint32]uint64) Counts {
	c := Counts{Received: t.received, Duplicated: t.duplicated, OutOfOrder: t.outOfOrder, Invalid: t.invalid}
	for pub, n := range sent {
		var got uint64
		if int(pub) < len(t.pubs) {
			got = t.countBelow(pub, n)
		}
		c.Lost += n - got
	}
	for pub := range t.pubs {
		n := sent[uint32(pub)]
		c.Unexpected += t.pubs[pub].unique - t.countBelow(uint32(pub), n)
	}
	return c
}

// CountRange is the number of distinct sequences in [from, to) received
// from pub.
func (t *Tracker) CountRange(pub uint32, from, to uint64) uint64 {
	if int(pub) >= len(t.pubs) || to <= from {
		return 0
	}
	return t.countBelow(pub, to) - t.countBelow(pub, from)
}

// countBelow is the number of distinct sequences < n received from pub.
func (t *Tracker) countBelow(pub uint32, n uint64) uint64 {
	p := &t.pubs[pub]
	var got uint64
	full := min(n/64, uint64(len(p.seen)))
	for _, b := range p.seen[:full] {
		got += uint64(popcount(b))
	}
	if rest := n % 64; rest != 0 && full < uint64(len(p.seen)) {
		got += uint64(popcount(p.seen[full] & (1<<rest - 1)))
	}
	return got
}

func popcount(x uint64) int { return bits.OnesCount64(x) }
