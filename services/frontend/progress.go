package frontend

import (
	"context"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/session"
)

// idleProgress is how often the cursor of a session without delivery
// activity is logged anyway: only the scan after a crash depends on it.
const idleProgress = 10 * time.Second

// progressLoop asks, every ProgressInterval, the connections whose delivery
// state changed (and the others every idleProgress) to log their progress.
// It reads two atomics per connection: an idle connection costs no turn of
// its loop unless idleProgress passed.
func (s *Server) progressLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ProgressInterval)
	defer t.Stop()
	var conns []*conn // reused: with many connections, a copy per tick is garbage
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		conns = conns[:0]
		for _, c := range s.clients {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		idleBefore := time.Now().Add(-idleProgress).UnixNano()
		for _, c := range conns {
			if !c.attached.Load() {
				continue
			}
			if c.dirty.Swap(false) || c.progressAt.Load() < idleBefore {
				c.post(c.tickProgress)
			}
		}
		clear(conns) // hold no connection until the next tick
	}
}

// tickProgress logs the session's progress unless nothing changed since the
// last one or one is still being appended.
func (c *conn) tickProgress() {
	if c.ending || c.progressBusy {
		return
	}
	if len(c.subs) == 0 && c.out.owesNothing() {
		// No cursor matters to a session that subscribes to nothing and
		// owes nothing: its next subscription starts where the subscribe
		// op says (its Cursor), and an idle connection logs nothing.
		c.progressAt.Store(time.Now().UnixNano())
		return
	}
	cur, infl := c.progressNow()
	now := &progressState{cursor: cur, inflight: infl}
	if now.equal(c.lastProgress) {
		c.progressAt.Store(time.Now().UnixNano())
		return
	}
	c.logger().Debug("progress", "cursor", cur, "inflight", infl)
	c.progressBusy = true
	c.submitOp(&c.opsL, &session.Op{Kind: session.OpProgress, Cursor: cur, Inflight: infl}, false, func(err error) {
		c.progressBusy = false
		if err != nil {
			c.logger().Warn("log progress", "err", err)
			c.dirty.Store(true) // try again at the next tick
			return
		}
		c.lastProgress = now
		c.out.logged(cur)
		c.progressAt.Store(time.Now().UnixNano())
	})
}

// progressState is a logged progress, to skip logging the same again.
type progressState struct {
	cursor   map[int]int64
	inflight []session.Inflight
}

func (p *progressState) equal(q *progressState) bool {
	if p == nil || q == nil || len(p.cursor) != len(q.cursor) || len(p.inflight) != len(q.inflight) {
		return false
	}
	for k, v := range p.cursor {
		if q.cursor[k] != v {
			return false
		}
	}
	seen := make(map[session.Inflight]bool, len(p.inflight))
	for _, e := range p.inflight {
		seen[e] = true
	}
	for _, e := range q.inflight {
		if !seen[e] {
			return false
		}
	}
	return true
}
