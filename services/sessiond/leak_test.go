package sessiond

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// workerFrame is how a partition worker appears in a goroutine's stack.
const workerFrame = "github.com/tidemarkmq/tidemark/services/sessiond.(*Service).work("

// countGoroutines counts the goroutines whose stack holds frame.
func countGoroutines(frame string) int {
	buf := make([]byte, 1<<20)
	for range 8 { // up to 128 MiB of stacks, far above a test's
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, frame) {
			count++
		}
	}
	return count
}

// TestServiceJoinsGoroutines: a Service leaves no goroutine behind when it
// stops, whether it stops while still joining, after every assignment went
// through, or after one failed to load its partition's sessions (Redis
// refused the read, the group rejoined). While it runs, each owned
// partition has exactly one worker: a failed assignment leaves none
// behind. (A stray worker also ends when the service stops, so only the
// count while running can show one.)
func TestServiceJoinsGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ready      bool // wait until ready before stopping
		refuseLoad bool
	}{
		{"stop while starting", false, false},
		{"start and stop", true, false},
		{"load refused, rejoin, stop", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBareHarness(t)
			var rules []string
			if tc.refuseLoad {
				rules = []string{"-smembers"} // how a partition's sessions are listed
			}
			user := h.aclUser(rules...)
			before := goleak.IgnoreCurrent()
			in := h.launch(func(c *Config) { c.RedisClient = user.client })
			if tc.refuseLoad {
				eventually(t, "a partition's load refused", func() (bool, error) {
					n, err := user.refused("smembers")
					return n > 0, err
				})
				user.set("+smembers")
			}
			if tc.ready {
				in.waitReady(t)
				if got, want := countGoroutines(workerFrame), len(in.svc.owned()); got != want || want != testPartitions {
					t.Fatalf("%d partition workers for %d owned partitions (of %d)", got, want, testPartitions)
				}
			}
			in.stop()
			// Run has returned; give goroutines it ended time to go on a
			// loaded machine before the verdict.
			deadline := time.Now().Add(10 * time.Second)
			for goleak.Find(before) != nil && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			goleak.VerifyNone(t, before)
		})
	}
}
