package frontend

import (
	"context"
	"testing"
	"time"
)

// TestChecksFailWithoutDependencies: with Kafka and Redis unreachable and
// the followers not positioned, every readiness check of the frontend
// fails, each within its bound.
func TestChecksFailWithoutDependencies(t *testing.T) {
	s, _ := newUnitServer(t, nil) // Kafka and Redis at 127.0.0.1:1
	checks := s.Checks()
	names := map[string]bool{}
	for _, c := range checks {
		names[c.Name] = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := c.Fn(ctx)
		cancel()
		if err == nil {
			t.Errorf("check %s passed with nothing reachable", c.Name)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("check %s took %s", c.Name, d)
		}
	}
	for _, n := range []string{"frontend", "kafka", "redis"} {
		if !names[n] {
			t.Errorf("no %s check", n)
		}
	}
}
