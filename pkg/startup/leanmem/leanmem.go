// Package leanmem gives memory back when a process holds much and does
// little with it. A broker's frontend may hold tens of thousands of idle
// connections: their live heap is small, but the garbage collector lets the
// heap grow to twice the live heap plus the goroutine stacks (GOGC=100)
// before it collects, and the process keeps that memory resident. While
// the allocation rate is low against the live heap (quiet), a Tuner runs
// the collector with a lower GOGC, which then costs little CPU since it
// rarely has work, and returns the memory freed on entering the quiet
// state to the operating system. When the allocation rate rises again, the
// collector gets its usual GOGC back, so throughput is not traded away.
package leanmem

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options configure a Tuner; zero values take the defaults.
type Options struct {
	// Interval is how often the allocation rate is sampled; default 2s.
	Interval time.Duration
	// LeanPercent is the GOGC of the quiet state; default 25. A negative
	// value turns the Tuner off.
	LeanPercent int
	// QuietPerMinute: the process is quiet while it allocates, per
	// minute, less than this many times its live heap; default 4. At the
	// lean GOGC of 25 the collector then runs at most about 16 times a
	// minute, each time marking a heap that holds mostly idle state.
	QuietPerMinute float64
	// Logger receives the state changes (debug level); default
	// slog.Default().
	Logger *slog.Logger
}

// Tuner switches the garbage collector between its usual GOGC and the lean
// one of the quiet state. It owns the process's GC percent while it runs.
type Tuner struct {
	opt     Options
	usual   int // the GC percent the process had at start (GOGC or 100)
	lean    bool
	quiets  int // quiet samples in a row
	samples []metrics.Sample
}

// quietSamples is how many quiet samples in a row make the process quiet:
// a short lull between two bursts does not switch the collector, nor pay
// the full collection that returning memory to the OS costs.
const quietSamples = 2

const (
	allocsMetric = "/gc/heap/allocs:bytes"
	liveMetric   = "/gc/heap/live:bytes"
)

// New returns a Tuner; it changes nothing until Run.
func New(opt Options) *Tuner {
	if opt.Interval <= 0 {
		opt.Interval = 2 * time.Second
	}
	if opt.LeanPercent == 0 {
		opt.LeanPercent = 25
	}
	if opt.QuietPerMinute <= 0 {
		opt.QuietPerMinute = 4
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Tuner{opt: opt, samples: []metrics.Sample{{Name: allocsMetric}, {Name: liveMetric}}}
}

// Run samples until ctx ends, then gives the collector its usual GOGC
// back. With a negative LeanPercent it returns at once.
func (t *Tuner) Run(ctx context.Context) {
	if t.opt.LeanPercent < 0 {
		return
	}
	// SetGCPercent reports the previous value: read it, put it back.
	t.usual = debug.SetGCPercent(100)
	debug.SetGCPercent(t.usual)
	if t.usual < 0 || t.usual <= t.opt.LeanPercent {
		return // collection off, or already leaner than ours: leave it
	}
	defer t.setLean(false)
	tick := time.NewTicker(t.opt.Interval)
	defer tick.Stop()
	prev := t.read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := t.read()
		t.observe(t.quiet(cur.allocs-prev.allocs, cur.live))
		prev = cur
	}
}

type sample struct{ allocs, live uint64 }

func (t *Tuner) read() sample {
	metrics.Read(t.samples)
	var s sample
	if v := t.samples[0].Value; v.Kind() == metrics.KindUint64 {
		s.allocs = v.Uint64()
	}
	if v := t.samples[1].Value; v.Kind() == metrics.KindUint64 {
		s.live = v.Uint64()
	}
	return s
}

// quiet reports whether allocating allocs bytes in one Interval, with a
// live heap of live bytes, is below the quiet rate.
func (t *Tuner) quiet(allocs, live uint64) bool {
	perMinute := float64(allocs) * float64(time.Minute) / float64(t.opt.Interval)
	return live > 0 && perMinute < t.opt.QuietPerMinute*float64(live)
}

// observe takes one sample's verdict: quietSamples quiet ones in a row make
// the collector lean, one busy one gives it its usual pace back.
func (t *Tuner) observe(quiet bool) {
	if quiet {
		t.quiets++
	} else {
		t.quiets = 0
	}
	t.setLean(t.quiets >= quietSamples)
}

func (t *Tuner) setLean(lean bool) {
	if lean == t.lean {
		return
	}
	t.lean = lean
	if lean {
		debug.SetGCPercent(t.opt.LeanPercent)
		// What the busy period left resident goes back now; the lean
		// GOGC keeps the heap from growing back to it while quiet.
		debug.FreeOSMemory()
		t.opt.Logger.Debug("memory: quiet, collector lean", "gogc", t.opt.LeanPercent)
		return
	}
	debug.SetGCPercent(t.usual)
	t.opt.Logger.Debug("memory: busy, collector back to its usual pace", "gogc", t.usual)
}
