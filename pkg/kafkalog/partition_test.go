package kafkalog

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/segmentio/kafka-go"
)

// PartitionFor must agree with the balancer the Appender uses, or tools
// that compute a key's partition would look in the wrong place.
func TestPartitionForMatchesMurmur2Balancer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), []byte("sensors/room1/temp"), []byte("client-é")}
	for range 500 {
		k := make([]byte, rng.IntN(40))
		for i := range k {
			k[i] = byte(rng.IntN(256))
		}
		keys = append(keys, k)
	}
	for _, n := range []int{1, 2, 3, 4, 8, 13, 64} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			parts := make([]int, n)
			for i := range parts {
				parts[i] = i
			}
			var b kafka.Murmur2Balancer
			for _, k := range keys {
				want := b.Balance(kafka.Message{Key: k}, parts...)
				if got := PartitionFor(k, n); got != want {
					t.Fatalf("PartitionFor(%q, %d) = %d, balancer says %d", k, n, got, want)
				}
			}
		})
	}
}

// Values from the Java client's murmur2 (org.apache.kafka.common.utils.Utils),
// so the hash is right even if the Go balancer changed.
func TestMurmur2JavaVectors(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := int32(murmur2([]byte(tt.in))); got != tt.want {
				t.Fatalf("murmur2(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestPartitionForEdgeCases(t *testing.T) {
	tests := []struct {
		name       string
		key        []byte
		partitions int
		want       int
	}{
		{"nil key", nil, 8, 0},
		{"zero partitions", []byte("x"), 0, 0},
		{"one partition", []byte("x"), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PartitionFor(tt.key, tt.partitions); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}
