// Package latency records durations in an HDR histogram and summarises them
// as the percentiles the load tool reports. A Histogram is not safe for
// concurrent use: the load tool shards its recording over a few locked
// histograms and merges them at the end.
package latency

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Range of the histogram: 1 µs to 5 min at 3 significant digits, so a
// percentile is within 0.1% of the true value. Longer latencies are clamped
// to the maximum and counted in Summary.Clamped.
const (
	lowest  = 1 // µs
	highest = int64(5 * time.Minute / time.Microsecond)
	sigfigs = 3
)

// Histogram is not safe for concurrent use.
type Histogram struct {
	h       *hdrhistogram.Histogram
	clamped int64
}

// New returns an empty histogram.
func New() *Histogram {
	return &Histogram{h: hdrhistogram.New(lowest, highest, sigfigs)}
}

// Record adds one duration. Negative durations (clock steps between the
// sender's and receiver's timestamps) count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	switch {
	case us < lowest:
		us = lowest
	case us > highest:
		us = highest
		h.clamped++
	}
	// In range by construction, so RecordValue cannot fail.
	_ = h.h.RecordValue(us)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	h.h.Merge(o.h)
	h.clamped += o.clamped
}

// Count is the number of recorded values.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Summary is what the report prints, in milliseconds.
type Summary struct {
	Count   int64   `json:"count"`
	Mean    float64 `json:"mean_ms"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	P999    float64 `json:"p99_9_ms"`
	Max     float64 `json:"max_ms"`
	Clamped int64   `json:"clamped,omitempty"`
}

// Summary computes the percentiles; all zero when nothing was recorded.
func (h *Histogram) Summary() Summary {
	if h.h.TotalCount() == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		Count:   h.h.TotalCount(),
		Mean:    h.h.Mean() / 1000,
		P50:     ms(h.h.ValueAtQuantile(50)),
		P90:     ms(h.h.ValueAtQuantile(90)),
		P99:     ms(h.h.ValueAtQuantile(99)),
		P999:    ms(h.h.ValueAtQuantile(99.9)),
		Max:     ms(h.h.Max()),
		Clamped: h.clamped,
	}
}
