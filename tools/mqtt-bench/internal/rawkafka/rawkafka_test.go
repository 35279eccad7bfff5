package rawkafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/bench"
)

// TestProduce runs the raw producer against the plain Kafka of the test
// stack and against its SASL_SSL one (SCRAM-SHA-512 over TLS).
func TestProduce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster func(testing.TB) kafkalog.Cluster
	}{{"plaintext", kafkatest.Cluster}, {"sasl_ssl", kafkatest.SASL}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{
				Kafka: tc.cluster(t), Topic: kafkatest.UniqueName(t, "bench.raw"),
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
		})
	}
}

func TestRefusesRemoteAndUnbounded(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"remote", Config{Kafka: kafkalog.Plain("10.1.1.1:9092"), Count: 1, Duration: time.Second}, bench.ErrNotLoopback},
		{"no brokers", Config{Count: 1, Duration: time.Second}, bench.ErrConfig},
		{"no count", Config{Kafka: kafkalog.Plain("127.0.0.1:9"), Duration: time.Second}, bench.ErrConfig},
		{"no duration", Config{Kafka: kafkalog.Plain("127.0.0.1:9"), Count: 1}, bench.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("Run = %v, want %v", err, tt.want)
			}
		})
	}
}
