package frontend

import (
	"sync"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// inbox is how the rest of the frontend talks to a connection: every
// goroutine that has something for it (the reader, the router, share
// groups, the replayer, the append lanes, the progress ticker, a takeover)
// puts it here, and the connection's loop takes it out. The loop is the one
// owner of the connection's session state; nothing else touches that state,
// so it needs no lock of its own.
//
// The loop runs on a goroutine of its own only while there is something to
// do: the first item put into an empty, idle inbox starts one, and it ends
// when it finds the inbox empty. An idle connection therefore costs its
// reader goroutine and no loop goroutine, and two loops never run at once.
//
// Locking: mu guards everything below it; it is held for queue operations
// only, never across I/O or into other locks, so anyone may put from
// anywhere.
type inbox struct {
	mu      sync.Mutex
	running bool // a loop goroutine is running or about to
	stopped bool // the loop ended for good: nothing is taken any more
	// again asks for one more turn with nothing new in the inbox: the
	// outbox holds more than one turn writes (see conn.write).
	again bool

	packets []mqtt.Packet // from the reader, in wire order
	results []func()      // lane results and other work, in order
	live    []*delivery   // offered by the router and share groups
	replay  []replayItem  // from the replayer, in its order

	// liveQueued counts the live deliveries offered and not yet written or
	// dropped (here and in the outbox): past maxPending the connection is
	// a slow consumer. overflow is then set and live offers are refused.
	liveQueued int
	maxPending int
	overflow   bool
	// lost holds per partition the lowest offset refused after an
	// overflow, so the cursor never passes a record the session missed.
	lost map[int]int64
	// closing refuses live offers: the connection is ending.
	closing bool
	// replayQueued counts replay deliveries put and not yet taken; the
	// replayer waits while it reaches replayRoom (roomed is signalled).
	replayQueued int
	room         chan struct{}

	// inbound counts PUBLISHes read and not yet answered; the reader waits
	// while it reaches maxInbound (drained is signalled).
	inbound int
	drained chan struct{}
}

// maxInbound bounds the PUBLISHes read from one client and not yet logged:
// past it the reader stops reading, and TCP holds the client back.
const maxInbound = 2 * pumpBatch

// pumpBatch bounds the PUBLISHes appended together in one Kafka request.
const pumpBatch = 256

// replayRoom bounds the replayed deliveries read ahead of the writer.
const replayRoom = 256

// batch is what one turn of the loop takes out of the inbox.
type batch struct {
	packets []mqtt.Packet
	results []func()
	live    []*delivery
	replay  []replayItem
}

func (b *batch) empty() bool {
	return len(b.packets) == 0 && len(b.results) == 0 && len(b.live) == 0 && len(b.replay) == 0
}

// kick starts the loop unless it runs; called with mu held, it reports
// whether the caller must start it (after unlocking).
func (in *inbox) kickLocked() bool {
	if in.running || in.stopped {
		return false
	}
	in.running = true
	return true
}

// take hands the loop everything queued; when nothing is, it marks the loop
// stopped and reports false, so that the next put starts a new one.
func (in *inbox) take(b *batch) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		// The connection ended: what still arrives has nobody to act on it.
		in.packets, in.results, in.live, in.replay = nil, nil, nil, nil
		in.running, in.again = false, false
		return false
	}
	b.packets, in.packets = in.packets, nil
	b.results, in.results = in.results, nil
	b.live, in.live = in.live, nil
	b.replay, in.replay = in.replay, nil
	if b.empty() && !in.again {
		in.running = false
		return false
	}
	in.again = false
	return true
}

// signal wakes whoever waits on ch (capacity 1) without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
