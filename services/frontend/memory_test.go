package frontend

import (
	"runtime"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestIdleConnectionMemory bounds what an idle connected client costs:
// heap plus goroutine stacks, measured over many connections.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	const n = 1000
	const limit = 32 << 10 // bytes per connection, client end included
	s, _ := newUnitServer(t, nil)
	measure := func() int64 {
		// Stacks shrink by half per collection while mostly unused.
		for i := 0; i < 4; i++ {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapInuse + ms.StackInuse)
	}
	before := measure()
	clients := make([]*pipeClient, n)
	for i := range clients {
		c := dialPipe(t, s, mqtt.V311)
		c.connect(&mqtt.Connect{ClientID: string(rune('a'+i%26)) + string(rune('0'+i/26)), CleanStart: true})
		clients[i] = c
	}
	after := measure()
	// Signed: a collection may free more of what ran before than the
	// connections take, on a small count.
	per := (after - before) / n
	t.Logf("%d bytes per idle connection (heap and stacks, both ends of the pipe included)", per)
	if per > limit {
		t.Fatalf("%d bytes per idle connection, want at most %d", per, limit)
	}
}
