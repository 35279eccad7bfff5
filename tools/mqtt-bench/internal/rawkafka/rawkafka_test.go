package rawkafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/bench"
)

func TestProduce(t *testing.T) {
	addr := os.Getenv("TIDEMARK_KAFKA")
	if addr == "" {
		t.Skip("TIDEMARK_KAFKA not set: run `make test` for the Kafka tests")
	}
	res, err := Run(context.Background(), Config{
		Brokers: []string{addr}, Topic: fmt.Sprintf("bench.raw-test-%d", time.Now().UnixNano()),
		Partitions: 2, Keys: 4, Size: 100, Count: 500, Duration: 30 * time.Second, Producers: 2, Inflight: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acked != 500 || res.Errors != 0 {
		t.Fatalf("acked %d of 500, errors %d %v", res.Acked, res.Errors, res.ErrorSamples)
	}
	if res.AckLatency == nil || res.AckLatency.Count != 500 || res.ThroughputIn <= 0 {
		t.Errorf("ack latency %+v, throughput %v", res.AckLatency, res.ThroughputIn)
	}
}

func TestRefusesRemoteAndUnbounded(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"remote", Config{Brokers: []string{"10.1.1.1:9092"}, Count: 1, Duration: time.Second}, bench.ErrNotLoopback},
		{"no brokers", Config{Count: 1, Duration: time.Second}, bench.ErrConfig},
		{"no count", Config{Brokers: []string{"127.0.0.1:9"}, Duration: time.Second}, bench.ErrConfig},
		{"no duration", Config{Brokers: []string{"127.0.0.1:9"}, Count: 1}, bench.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("Run = %v, want %v", err, tt.want)
			}
		})
	}
}
