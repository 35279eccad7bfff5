package sessiond

import (
	"fmt"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
)

func terminatedExpired(evs []events.Envelope) bool {
	for _, e := range evs {
		if d, ok := e.Data.(*events.Terminated); ok && d.Reason == events.TerminateExpired {
			return true
		}
	}
	return false
}

// TestExpiry: an offline session past its expiry is terminated (expired)
// and deleted, whether the deadline passes while the service runs or while
// no instance runs; a reconnect before the deadline keeps it.
func TestExpiry(t *testing.T) {
	h := newHarness(t)

	t.Run("while running", func(t *testing.T) {
		in := h.start(nil)
		defer in.stop()
		const cid = "expire-running"
		a, _ := h.connect(cid, connID(cid, "A"), false, 5, 1)
		t0 := time.Now().Truncate(time.Millisecond)
		off := a.disconnect(events.DisconnectNormal, 1)
		evs := h.waitFor(cid, terminatedExpired)
		if last := evs[len(evs)-1]; last.Time.Before(t0.Add(time.Second)) {
			t.Fatalf("expired at %v, before the deadline %v", last.Time, t0.Add(time.Second))
		}
		want := []want{
			{typ: events.SessionCreated, conn: a.id}, {typ: events.ClientConnected, conn: a.id},
			{typ: events.ClientDisconnected, conn: a.id, reason: string(events.DisconnectNormal)}, {typ: events.SessionTerminated, reason: string(events.TerminateExpired)},
		}
		if got := describe(evs); got != describeWants(want) {
			t.Fatalf("events %s want %s", got, describeWants(want))
		}
		// Events are appended before the op is applied to Redis.
		eventually(t, fmt.Sprintf("session deleted (disconnect at %d)", off), func() (bool, error) { return !h.load(cid).Exists, nil })
	})

	t.Run("reconnect before deadline", func(t *testing.T) {
		in := h.start(nil)
		defer in.stop()
		const cid = "expire-reconnect"
		a, _ := h.connect(cid, connID(cid, "A"), false, 5, 2)
		a.disconnect(events.DisconnectNormal, 2)
		b, st := h.connect(cid, connID(cid, "B"), false, 5, 2)
		if !st.Present {
			t.Fatal("session not present on reconnect")
		}
		// Stay online past the old deadline: nothing may expire it.
		time.Sleep(2500 * time.Millisecond)
		h.marker(cid)
		if terminatedExpired(h.sequence(cid)) {
			t.Fatalf("online session expired: %s", describe(h.sequence(cid)))
		}
		if st := h.load(cid); !st.Exists || st.Epoch != b.epoch {
			t.Fatalf("session lost: %+v", st.Meta)
		}
	})

	t.Run("deadline passed while stopped", func(t *testing.T) {
		in := h.start(nil)
		const cid = "expire-stopped"
		a, _ := h.connect(cid, connID(cid, "A"), false, 5, 1)
		a.disconnect(events.DisconnectNormal, 1)
		h.marker(cid)
		in.stop()
		if st := h.load(cid); !st.Exists || st.Meta.Online {
			t.Fatalf("session not offline before restart: %+v", st.Meta)
		}
		deadline := time.UnixMilli(h.load(cid).Meta.ExpiresAt)
		time.Sleep(time.Until(deadline) + 100*time.Millisecond)
		// A periodic check would come far too late: expiry must follow
		// from the assignment itself.
		in = h.start(func(c *Config) { c.ExpiryCheck = time.Hour })
		defer in.stop()
		h.waitFor(cid, terminatedExpired)
		eventually(t, "session deleted", func() (bool, error) { return !h.load(cid).Exists, nil })
	})
	h.checkEvents()
}

func describeWants(ws []want) string {
	s := "["
	for i, w := range ws {
		if i > 0 {
			s += " "
		}
		s += w.String()
	}
	return s + "]"
}
