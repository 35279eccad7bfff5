package latency

import (
	"math"
	"testing"
	"time"
)

func near(got, want float64) bool {
	return math.Abs(got-want) <= want*0.002+0.001
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		want   Summary
	}{
		{name: "empty", want: Summary{}},
		{
			name:   "one value",
			values: []time.Duration{3 * time.Millisecond},
			want:   Summary{Count: 1, Mean: 3, P50: 3, P90: 3, P99: 3, P999: 3, Max: 3},
		},
		{
			// 1..1000 ms: the q-th percentile is q*10 ms.
			name:   "uniform 1..1000ms",
			values: uniform(1000),
			want:   Summary{Count: 1000, Mean: 500.5, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000},
		},
		{
			name:   "negative and tiny count as 1µs",
			values: []time.Duration{-time.Second, 0, 100 * time.Nanosecond},
			want:   Summary{Count: 3, Mean: 0.001, P50: 0.001, P90: 0.001, P99: 0.001, P999: 0.001, Max: 0.001},
		},
		{
			name:   "too long is clamped and counted",
			values: []time.Duration{time.Hour},
			want:   Summary{Count: 1, Mean: 300000, P50: 300000, P90: 300000, P99: 300000, P999: 300000, Max: 300000, Clamped: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Summary()
			if got.Count != tt.want.Count || got.Clamped != tt.want.Clamped {
				t.Fatalf("count/clamped = %d/%d, want %d/%d", got.Count, got.Clamped, tt.want.Count, tt.want.Clamped)
			}
			checks := []struct {
				name      string
				got, want float64
			}{
				{"mean", got.Mean, tt.want.Mean}, {"p50", got.P50, tt.want.P50}, {"p90", got.P90, tt.want.P90},
				{"p99", got.P99, tt.want.P99}, {"p99.9", got.P999, tt.want.P999}, {"max", got.Max, tt.want.Max},
			}
			for _, c := range checks {
				if !near(c.got, c.want) {
					t.Errorf("%s = %v ms, want %v ms", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a, b := New(), New()
	for i, v := range uniform(1000) {
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	b.Record(time.Hour)
	a.Merge(b)
	got := a.Summary()
	if got.Count != 1001 || got.Clamped != 1 {
		t.Fatalf("merged count/clamped = %d/%d, want 1001/1", got.Count, got.Clamped)
	}
	if !near(got.P50, 501) {
		t.Errorf("merged p50 = %v ms, want 501", got.P50)
	}
}

func uniform(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		h.Record(d)
		d = (d + 7919*time.Nanosecond) % time.Second
	}
}
