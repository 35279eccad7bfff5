// Package kafkatest gives integration tests a Kafka cluster and private
// topics. Tests skip when no cluster is configured, unless
// TIDEMARK_REQUIRE_STACK=1 says the stack must be there (as under `make
// test` in CI), in which case they fail.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Brokers returns the brokers from TIDEMARK_KAFKA (comma list). It skips the
// test when the variable is unset, and when the first broker does not answer
// it skips, or fails under TIDEMARK_REQUIRE_STACK=1.
func Brokers(t testing.TB) []string {
	t.Helper()
	v := os.Getenv("TIDEMARK_KAFKA")
	require := os.Getenv("TIDEMARK_REQUIRE_STACK") == "1"
	if v == "" {
		if require {
			t.Fatal("TIDEMARK_KAFKA is unset but TIDEMARK_REQUIRE_STACK=1")
		}
		t.Skip("TIDEMARK_KAFKA unset: run `make test` to run against the test stack")
	}
	brokers := strings.Split(v, ",")
	c, err := net.DialTimeout("tcp", brokers[0], 3*time.Second)
	if err != nil {
		if require {
			t.Fatalf("kafka at %s unreachable: %v", brokers[0], err)
		}
		t.Skipf("kafka at %s unreachable (%v): run `make test`", brokers[0], err)
	}
	c.Close()
	return brokers
}

// NewTopic creates a topic with a unique name and the given partitions on
// the cluster from Brokers, and returns its name. The topic is not deleted:
// names are unique, and deleting would race with readers still closing.
func NewTopic(t testing.TB, partitions int) string {
	t.Helper()
	return NewTopicSpec(t, kafkalog.TopicSpec{Partitions: partitions})
}

// NewTopicSpec is NewTopic with a full spec; spec.Name is used as a prefix.
func NewTopicSpec(t testing.TB, spec kafkalog.TopicSpec) string {
	t.Helper()
	brokers := Brokers(t)
	spec.Name = UniqueName(t, spec.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkalog.EnsureTopics(ctx, brokers, spec); err != nil {
		t.Fatalf("create topic %s: %v", spec.Name, err)
	}
	return spec.Name
}

// UniqueName returns prefix (or "test") plus the test name and a random
// suffix, cleaned to the characters Kafka allows in topic and group names.
func UniqueName(t testing.TB, prefix string) string {
	if prefix == "" {
		prefix = "test"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := prefix + "." + t.Name() + "." + hex.EncodeToString(b[:])
	clean := []byte(name)
	for i, c := range clean {
		ok := c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			clean[i] = '_'
		}
	}
	if len(clean) > 200 {
		clean = clean[len(clean)-200:]
	}
	return string(clean)
}
