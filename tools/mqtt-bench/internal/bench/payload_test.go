package bench

import (
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		ok      bool
	}{
		{"tool payload", make([]byte, 64), true},
		{"exactly the header", make([]byte, HeaderSize), true},
		{"too short", make([]byte, HeaderSize-1), false},
		{"foreign", []byte("hello, this is not a benchmark payload"), false},
	}
	sent := time.Unix(1700000000, 123456789)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.payload) >= HeaderSize && tt.ok {
				putHeader(tt.payload, 7, 1<<40, sent)
			}
			pub, seq, at, ok := parseHeader(tt.payload)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (pub != 7 || seq != 1<<40 || !at.Equal(sent)) {
				t.Errorf("got (%d, %d, %v)", pub, seq, at)
			}
		})
	}
}

// BenchmarkOnPublish is the tool's own work per delivered message: parse
// the header, track the sequence, record the latency.
func BenchmarkOnPublish(b *testing.B) {
	r := &receiver{hist: newHistShards(1).of(0)}
	p := &mqtt.Publish{Topic: "bench/x/0", Payload: make([]byte, 64)}
	now := time.Now()
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		putHeader(p.Payload, 0, seq, now)
		r.onPublish(p, now)
		seq++
	}
}
