package sessiond

import (
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// TestCoreOnRedisDeployments runs the core of the session service's tests
// (persistent sessions and takeovers through every lifecycle sequence, the
// offline queue, the rebuild after a Redis wipe) against the three-node
// Redis Cluster and the password-protected TLS Redis of the test stack:
// every transaction must stay in one cluster slot, and the view must work
// through TLS with an ACL user. The plain Redis runs them as the tests of
// the same names.
func TestCoreOnRedisDeployments(t *testing.T) {
	core := []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"LifecycleSequences", lifecycleSequences},
		{"OfflineQueue", offlineQueue},
		{"RebuildAfterRedisWipe", rebuildAfterRedisWipe},
	}
	for _, b := range redistest.Backends() {
		if b.Name == "redis" {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range core {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarnessOn(t, b.Client(t))) })
			}
		})
	}
}
