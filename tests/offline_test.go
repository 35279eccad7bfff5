package e2e

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// publishAll publishes every message without waiting in between (so the
// broker sees a real pipeline), then waits for every acknowledgement.
func (cl *client) publishAll(msgs []message) {
	cl.t.Helper()
	toks := make([]paho.Token, 0, len(msgs))
	for _, m := range msgs {
		toks = append(toks, cl.paho.Publish(m.Topic, m.QoS, false, m.Payload))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			cl.t.Fatalf("%s: publish %d (%s): %v", cl.id, i, msgs[i].Topic, tok.Error())
		}
	}
}

// checkDelivery checks that got holds exactly want's messages, in want's
// order per topic, each at the QoS want gives it.
func checkDelivery(t *testing.T, got, want []message) {
	t.Helper()
	per := func(ms []message) map[string][]message {
		m := map[string][]message{}
		for _, x := range ms {
			m[x.Topic] = append(m[x.Topic], x)
		}
		return m
	}
	g, w := per(got), per(want)
	for topic, ws := range w {
		gs := g[topic]
		if len(gs) != len(ws) {
			t.Errorf("%s: received %d messages, want %d", topic, len(gs), len(ws))
		}
		for i := 0; i < len(ws) && i < len(gs); i++ {
			if gs[i].Payload != ws[i].Payload || gs[i].QoS != ws[i].QoS {
				t.Errorf("%s: message %d is %q at QoS %d, want %q at QoS %d (order or QoS broken)",
					topic, i, gs[i].Payload, gs[i].QoS, ws[i].Payload, ws[i].QoS)
				break
			}
		}
	}
	for topic := range g {
		if _, ok := w[topic]; !ok {
			t.Errorf("received messages on %s, which was not expected", topic)
		}
	}
}

// TestOfflineMessagesReachPersistentSession is the seed's promise: a
// CleanSession=0 subscriber that goes offline receives, when it comes back
// on the other frontend, every message published meanwhile that matches its
// subscriptions (QoS 0, 1 and 2 alike, 1,000 on one topic and more on
// others), in publish order per topic, at min(publish QoS, subscription
// QoS). A CleanSession=1 client in the same situation receives none of them.
func TestOfflineMessagesReachPersistentSession(t *testing.T) {
	c := newCluster(t, options{})

	sub, _ := c.dial(0, "offline-sub", false)
	sub.subscribe("seed/one", 2)
	sub.subscribe("seed/other/+", 1)
	clean, _ := c.dial(0, "offline-clean", true)
	clean.subscribe("seed/#", 2)
	sub.disconnect()
	clean.disconnect()
	c.life.waitPaired("offline-sub")
	c.life.waitPaired("offline-clean")

	var sent, want []message
	for i := 0; i < 1000; i++ {
		qos := byte(i % 3)
		m := message{Topic: "seed/one", Payload: fmt.Sprintf("one-%04d", i), QoS: qos}
		sent = append(sent, m)
		want = append(want, m) // subscription QoS 2: delivered at the publish QoS
	}
	for i := 0; i < 100; i++ {
		topic := fmt.Sprintf("seed/other/%c", 'a'+i%4)
		m := message{Topic: topic, Payload: fmt.Sprintf("other-%03d", i), QoS: 2}
		sent = append(sent, m)
		m.QoS = 1 // subscription QoS 1 caps it
		want = append(want, m)
	}
	sent = append(sent, message{Topic: "elsewhere", Payload: "not subscribed", QoS: 1})
	pub, _ := c.dial(1, "offline-pub", true)
	start := time.Now()
	pub.publishAll(sent)
	t.Logf("published %d messages in %v", len(sent), time.Since(start))

	// Back on the other frontend: everything arrives, nothing else.
	sub, present := c.dial(1, "offline-sub", false)
	if !present {
		t.Fatal("Session Present not set on reconnect")
	}
	start = time.Now()
	got := sub.waitMessages(len(want))
	t.Logf("replayed %d messages in %v", len(got), time.Since(start))
	checkDelivery(t, got, want)

	// The clean client comes back and subscribes again; a marker published
	// after its SUBACK is the first and only thing it receives, which shows
	// that none of the messages of its offline time were kept for it.
	clean, present = c.dial(0, "offline-clean", true)
	if present {
		t.Error("Session Present for a clean session")
	}
	clean.subscribe("seed/#", 2)
	pub.publish("seed/other/marker", 1, "marker")
	if got := clean.waitMessages(1); got[0].Payload != "marker" {
		t.Errorf("clean client first received %q, want only the marker", got[0].Payload)
	}
	if extra := sub.waitMessages(len(want) + 1); extra[len(want)].Payload != "marker" {
		t.Errorf("persistent subscriber got %q after the replay, want the live marker", extra[len(want)].Payload)
	}
	if got := clean.received(); len(got) != 1 {
		t.Errorf("clean client received %d messages, want only the marker", len(got))
	}
}
