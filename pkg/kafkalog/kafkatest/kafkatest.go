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
	"path/filepath"
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
	return strings.Split(reachable(t, "TIDEMARK_KAFKA"), ",")
}

// reachable returns the variable name's broker list after checking that
// its first broker answers.
func reachable(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	require := os.Getenv("TIDEMARK_REQUIRE_STACK") == "1"
	if v == "" {
		if require {
			t.Fatalf("%s is unset but TIDEMARK_REQUIRE_STACK=1", name)
		}
		t.Skipf("%s unset: run `make test` to run against the test stack", name)
	}
	first, _, _ := strings.Cut(v, ",")
	c, err := net.DialTimeout("tcp", first, 3*time.Second)
	if err != nil {
		if require {
			t.Fatalf("kafka at %s unreachable: %v", first, err)
		}
		t.Skipf("kafka at %s unreachable (%v): run `make test`", first, err)
	}
	c.Close()
	return v
}

// Cluster is Brokers as a plaintext Cluster.
func Cluster(t testing.TB) kafkalog.Cluster {
	t.Helper()
	return kafkalog.Plain(Brokers(t)...)
}

// SASLOptions are the options of the test stack's SASL_SSL Kafka, as a
// binary's --kafka-* flags give them: its address from TIDEMARK_KAFKA_SASL,
// and from the directory TIDEMARK_KAFKA_SASL_DIR the CA (ca.crt), the
// user (username) and the password file (password), with SCRAM-SHA-512.
// It skips or fails the test like Brokers when the broker is missing.
func SASLOptions(t testing.TB) kafkalog.Options {
	t.Helper()
	addr := reachable(t, "TIDEMARK_KAFKA_SASL")
	dir := os.Getenv("TIDEMARK_KAFKA_SASL_DIR")
	user, err := os.ReadFile(filepath.Join(dir, "username"))
	if err != nil {
		t.Fatalf("TIDEMARK_KAFKA_SASL_DIR: %v", err)
	}
	return kafkalog.Options{Brokers: addr, TLSCA: filepath.Join(dir, "ca.crt"),
		SASLMechanism: kafkalog.SASLScramSHA512, SASLUsername: strings.TrimSpace(string(user)),
		SASLPasswordFile: filepath.Join(dir, "password")}
}

// SASL is SASLOptions built by the binaries' own code.
func SASL(t testing.TB) kafkalog.Cluster {
	t.Helper()
	c, err := SASLOptions(t).Cluster(nil)
	if err != nil {
		t.Fatalf("sasl cluster: %v", err)
	}
	return c
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
	c := Cluster(t)
	spec.Name = UniqueName(t, spec.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkalog.EnsureTopics(ctx, c, spec); err != nil {
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
