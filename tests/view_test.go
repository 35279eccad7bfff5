package e2e

import (
	"fmt"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// TestRedisIsAView wipes the session view while everything runs and
// restarts the session service: sessions, subscriptions and queued messages
// come back from the log and are delivered (invariant 4).
func TestRedisIsAView(t *testing.T) {
	c := newCluster(t, options{})
	sub, _ := c.dial(0, "view-sub", false)
	sub.subscribe("view/+", 1)
	sub.disconnect()
	c.life.waitPaired("view-sub")

	pub, _ := c.dial(1, "view-pub", true)
	var want []message
	for i := 0; i < 50; i++ {
		m := message{Topic: fmt.Sprintf("view/%d", i%3), Payload: fmt.Sprintf("v-%02d", i), QoS: 1}
		want = append(want, m)
	}
	pub.publishAll(want[:25])

	c.sd.stop()
	if err := redistest.Flush(t.Context(), c.rdb, c.prefix); err != nil {
		t.Fatalf("wipe redis: %v", err)
	}
	if n, _ := redistest.Keys(t.Context(), c.rdb, c.prefix); len(n) != 0 {
		t.Fatalf("wipe left %d keys", len(n))
	}
	pub.publishAll(want[25:]) // published while the view is empty and its writer down
	c.startSessiond()

	sub, present := c.dial(1, "view-sub", false)
	if !present {
		t.Fatal("session lost with the Redis view: Session Present not set")
	}
	checkDelivery(t, sub.waitMessages(len(want)), want)

	// The subscription itself came back: a live message is delivered
	// without subscribing again.
	pub.publish("view/live", 1, "live")
	if got := sub.waitMessages(len(want) + 1); got[len(want)].Payload != "live" {
		t.Errorf("after the rebuild got %q, want the live message", got[len(want)].Payload)
	}
}

// TestQueueBoundDropsOldestAndSaysSo: an offline queue over its bound
// drops the oldest messages, delivers the newest in order, and announces
// every drop.
func TestQueueBoundDropsOldestAndSaysSo(t *testing.T) {
	const bound, published = 10, 25
	c := newCluster(t, options{maxQueued: bound})
	sub, _ := c.dial(0, "bound-sub", false)
	sub.subscribe("bound/a", 1)
	sub.disconnect()
	c.life.waitPaired("bound-sub")

	pub, _ := c.dial(1, "bound-pub", true)
	var all []message
	for i := 0; i < published; i++ {
		all = append(all, message{Topic: "bound/a", Payload: fmt.Sprintf("b-%02d", i), QoS: 1})
	}
	pub.publishAll(all)

	// Wait until the drops are announced before reconnecting, so the
	// session service has queued everything.
	var dropped int64
	for dropped < published-bound {
		dropped = 0
		evs := c.life.waitEvents("bound-sub", events.SessionMessageDropped, 1)
		for _, e := range evs {
			d := e.Data.(*events.MessageDropped)
			if d.Reason != events.DropQueueFull {
				t.Fatalf("drop reason %s, want queue_full", d.Reason)
			}
			dropped += d.Count
		}
		if dropped > published-bound {
			t.Fatalf("%d drops announced, want %d", dropped, published-bound)
		}
		if dropped < published-bound {
			c.life.waitMore("bound-sub", len(c.life.events("bound-sub")))
		}
	}

	sub, _ = c.dial(1, "bound-sub", false)
	checkDelivery(t, sub.waitMessages(bound), all[published-bound:])
}
