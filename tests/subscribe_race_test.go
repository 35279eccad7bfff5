package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestPublishRightAfterSubscribe: a subscription receives every message
// that reaches its frontend after the SUBSCRIBE was read, even when the
// publisher fires at once, without waiting for the SUBACK (the client
// cannot know when the broker has it in place: MQTT only orders the
// PUBLISH after the SUBSCRIBE on the wire). 1,000 rounds at each QoS, the
// subscriber on the publisher's frontend and on the other one, a new topic
// each round: no message may be missing.
func TestPublishRightAfterSubscribe(t *testing.T) {
	// 1,000 rounds per case, by 10 publisher-subscriber pairs at a time:
	// each round waits for its message, and the log's latency would
	// otherwise make the rounds add up to many minutes. The load this
	// puts on the machine is what makes the race likely: a frontend kept
	// off the CPU finds the SUBSCRIBE and the record fetched from Kafka
	// ready at once, and may dispatch the record first (router.joinRecent
	// covers that).
	const pairs, rounds = 10, 100
	// The services run as processes of their own, as in production: in
	// the test's process their goroutines would wait behind the clients'
	// for the scheduler.
	c := newProcCluster(t, false)
	c.sessiond("sessiond-0")
	fes := []*svc{c.frontend("fe-0"), c.frontend("fe-1")}
	for _, qos := range []byte{0, 1, 2} {
		for _, place := range []struct {
			name string
			fe   int
		}{{"same frontend", 0}, {"other frontend", 1}} {
			t.Run(fmt.Sprintf("QoS %d %s", qos, place.name), func(t *testing.T) {
				var wg sync.WaitGroup
				missing := make(chan string, pairs*rounds)
				for k := range pairs {
					id := fmt.Sprintf("race-%d-%d-%d", qos, place.fe, k)
					pub := dialRaw(t, fes[0].mqtt, mqtt.V5)
					pub.connect(id + "-pub")
					sub := dialRaw(t, fes[place.fe].mqtt, mqtt.V5)
					sub.connect(id + "-sub")
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range rounds {
							tp := fmt.Sprintf("race/%s/%d", id, i)
							pid := uint16(i + 1)
							sub.send(&mqtt.Subscribe{PacketID: pid, Subscriptions: []mqtt.Subscription{{Filter: tp, QoS: qos}}})
							pub.send(&mqtt.Publish{Topic: tp, QoS: qos, PacketID: pid, Payload: []byte(tp)})
							if !sub.receiveOne(tp, 10*time.Second) {
								missing <- tp
							}
							pub.completePublish(qos, pid)
						}
					}()
				}
				wg.Wait()
				close(missing)
				var lost []string
				for tp := range missing {
					lost = append(lost, tp)
				}
				if len(lost) > 0 {
					t.Fatalf("%d of %d messages published right after the SUBSCRIBE never arrived: %v", len(lost), pairs*rounds, lost)
				}
			})
		}
	}
}

// receiveOne reads until a PUBLISH to tp arrives (true) or within passes
// (false), completing the QoS 1/2 exchange of what it receives; SUBACKs
// and other packets on the way are skipped.
func (c *rawConn) receiveOne(tp string, within time.Duration) bool {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_ = c.nc.SetReadDeadline(deadline)
		p, err := c.r.ReadPacket(c.v)
		if err != nil {
			if time.Now().After(deadline) {
				return false
			}
			c.t.Fatalf("subscriber: %v", err)
		}
		switch p := p.(type) {
		case *mqtt.Publish:
			switch p.QoS {
			case 1:
				c.send(&mqtt.Puback{PacketID: p.PacketID})
			case 2:
				c.send(&mqtt.Pubrec{PacketID: p.PacketID})
			}
			if p.Topic == tp {
				return true
			}
		case *mqtt.Pubrel:
			c.send(&mqtt.Pubcomp{PacketID: p.PacketID})
		}
	}
}

// completePublish waits for the acknowledgement of the publisher's QoS 1
// or 2 PUBLISH pid (PUBREL sent in between for QoS 2).
func (c *rawConn) completePublish(qos byte, pid uint16) {
	c.t.Helper()
	for qos > 0 {
		p, err := c.read()
		if err != nil {
			c.t.Fatalf("publisher: %v", err)
		}
		switch p := p.(type) {
		case *mqtt.Puback:
			if p.PacketID == pid {
				return
			}
		case *mqtt.Pubrec:
			if p.PacketID == pid {
				c.send(&mqtt.Pubrel{PacketID: pid})
			}
		case *mqtt.Pubcomp:
			if p.PacketID == pid {
				return
			}
		}
	}
}
