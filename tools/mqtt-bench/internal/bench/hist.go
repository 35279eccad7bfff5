package bench

import (
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/latency"
)

// maxShards bounds the histograms of one measurement: at 3 significant
// digits each takes about 160 KiB, too much to give each of a thousand
// subscribers its own, while one shared lock would serialise every read
// goroutine.
const maxShards = 16

// lockedHist is a histogram that several read goroutines record into.
type lockedHist struct {
	mu sync.Mutex
	h  *latency.Histogram
}

func (l *lockedHist) Record(d time.Duration) {
	l.mu.Lock()
	l.h.Record(d)
	l.mu.Unlock()
}

// histShards spreads connections over at most maxShards histograms.
type histShards []*lockedHist

func newHistShards(conns int) histShards {
	s := make(histShards, max(1, min(conns, maxShards)))
	for i := range s {
		s[i] = &lockedHist{h: latency.New()}
	}
	return s
}

// of is the shard of connection k.
func (s histShards) of(k int) *lockedHist { return s[k%len(s)] }

// merged sums the shards; call it once recording has ended.
func (s histShards) merged() *latency.Histogram {
	out := latency.New()
	for _, l := range s {
		l.mu.Lock()
		out.Merge(l.h)
		l.mu.Unlock()
	}
	return out
}
