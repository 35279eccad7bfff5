package frontend

import (
	"context"
	"sync"
)

// opWatermark tracks, per partition of the sessions topic, the next offset
// the takeover watch has not looked at yet.
//
// Why: a connection may be taken over between logging an op and acting on
// it. The session service fences ops older than the newest connect, so an
// op logged after a takeover's connect is ignored; if the old connection
// then wrote the QoS 2 PUBLISH the op announced, the new connection would
// replay that message under a new packet id. Waiting until the watch has
// passed the op's offset settles the order: either a newer connect came
// first (and the watch has killed this connection before it writes), or the
// op precedes every newer connect and the new connection inherits it.
type opWatermark struct {
	mu    sync.Mutex
	next  map[int]int64
	moved chan struct{}
}

func newOpWatermark() *opWatermark {
	return &opWatermark{next: map[int]int64{}, moved: make(chan struct{})}
}

// advance records that every record of partition p below next was seen.
func (w *opWatermark) advance(p int, next int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if next <= w.next[p] {
		return
	}
	w.next[p] = next
	close(w.moved)
	w.moved = make(chan struct{})
}

// waitPast blocks until the record at offset off of partition p was seen.
func (w *opWatermark) waitPast(ctx context.Context, p int, off int64) error {
	for {
		w.mu.Lock()
		seen, moved := w.next[p] > off, w.moved
		w.mu.Unlock()
		if seen {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
