package frontend

import "github.com/tidemarkmq/tidemark/pkg/session"

// repeatGuard keeps live dispatch from handing a resumed session again
// what it already had when it resumed.
//
// Why: every frontend follows the log on its own, so the router of the
// frontend a session resumes on may be behind the one it left. Live
// dispatch covers the records at or after the router's positions at attach
// (sw), and some of those may lie below the cursor the session's earlier
// connection logged (completed), or be inflight or queued in its state
// (which replay sends again, with their packet ids or from the queue).
// Delivered live as well, a QoS 2 message would reach the client twice
// under two packet ids. The guard lasts until the router has passed every
// such record.
type repeatGuard struct {
	// cursor is the session's cursor at attach, for the partitions where
	// it is ahead of sw; filters its plain subscriptions then. A record
	// below it that one of them matches was handled before.
	cursor  map[int]int64
	filters []string
	// had holds the offsets, at or after sw, that were inflight or queued
	// at attach: replay delivers (or settles) them.
	had map[int]map[int64]struct{}
	// until is where the router must be, per partition, before no record
	// of the guard can still come live.
	until map[int]int64
}

// newRepeatGuard returns the guard of a session resumed from st, whose
// offline queue still to deliver is pending (pendingQueue), at router
// positions sw; nil when nothing of st lies at or after sw.
func newRepeatGuard(st *session.State, pending []session.QueueRef, sw map[int]int64) *repeatGuard {
	g := &repeatGuard{}
	reach := func(p int, next int64) {
		if g.until == nil {
			g.until = make(map[int]int64)
		}
		g.until[p] = max(g.until[p], next)
	}
	for p, c := range st.Cursor {
		if c > sw[p] {
			if g.cursor == nil {
				g.cursor = make(map[int]int64)
			}
			g.cursor[p] = c
			reach(p, c)
		}
	}
	have := func(p int, off int64) {
		if off < sw[p] {
			return
		}
		if g.had == nil {
			g.had = make(map[int]map[int64]struct{})
		}
		if g.had[p] == nil {
			g.had[p] = make(map[int64]struct{})
		}
		g.had[p][off] = struct{}{}
		reach(p, off+1)
	}
	for _, e := range st.Inflight {
		have(e.Partition, e.Offset)
	}
	for _, q := range pending {
		have(q.Partition, q.Offset)
	}
	if g.until == nil {
		return nil
	}
	if g.cursor != nil {
		for _, s := range st.Subscriptions {
			if !isShared(s.Filter) {
				g.filters = append(g.filters, s.Filter)
			}
		}
	}
	return g
}

// repeats reports whether the live delivery d is one the session had when
// it resumed.
func (g *repeatGuard) repeats(d *delivery) bool {
	if g == nil || !d.tracked() {
		return false
	}
	p, off := d.msg.partition, d.msg.offset
	if _, ok := g.had[p][off]; ok {
		return true
	}
	c, ok := g.cursor[p]
	return ok && off < c && matchesAny(g.filters, d.msg.topic)
}

// passed reports whether the router positions pos are past every record
// of the guard: nothing offered after them can repeat.
func (g *repeatGuard) passed(pos map[int]int64) bool {
	for p, n := range g.until {
		if pos[p] < n {
			return false
		}
	}
	return true
}
