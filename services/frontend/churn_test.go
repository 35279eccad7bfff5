package frontend

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestIntegrationNothingMissing is invariant 2 under churn: a persistent
// QoS 1 subscriber keeps dropping its connection and coming back on the
// other frontend while a publisher sends a numbered stream. Every message
// arrives, and new messages arrive in publish order (redeliveries of
// unacknowledged ones may repeat).
func TestIntegrationNothingMissing(t *testing.T) {
	st := newStack(t)
	fes := []*Server{st.frontend("fe-a"), st.frontend("fe-b")}
	tp := uniqueTopic(t)
	id := "churn-" + t.Name()
	exp := mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(600))}

	c := dialTCP(t, addr(fes[0], "mqtt"), mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: id, CleanStart: true, Properties: exp})
	subscribe(t, c, 1, mqtt.Subscription{Filter: tp, QoS: 1})

	const n = 300
	pubDone := make(chan error, 1)
	go func() {
		pub := dialTCP(t, addr(fes[1], "mqtt"), mqtt.V5)
		pub.connect(&mqtt.Connect{ClientID: "pub-" + id, CleanStart: true})
		for i := 0; i < n; i++ {
			pub.send(&mqtt.Publish{Topic: tp, QoS: 1, PacketID: uint16(i%60000 + 1), Payload: []byte(strconv.Itoa(i))})
			if _, ok := pub.next(30 * time.Second).(*mqtt.Puback); !ok {
				pubDone <- fmt.Errorf("message %d: no PUBACK", i)
				return
			}
			if i%25 == 0 {
				time.Sleep(5 * time.Millisecond) // spread the stream over the churn
			}
		}
		pubDone <- nil
	}()

	seen := make(map[int]bool, n)
	highest := -1
	deadline := time.Now().Add(90 * time.Second)
	for round := 0; len(seen) < n; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d rounds %d of %d messages arrived", round, len(seen), n)
		}
		// Receive for a while, acknowledging, then drop the connection.
		stop := time.After(time.Duration(50+round%4*40) * time.Millisecond)
	recv:
		for {
			select {
			case p, ok := <-c.pkts:
				if !ok {
					break recv
				}
				m, isPub := p.(*mqtt.Publish)
				if !isPub {
					continue
				}
				v, err := strconv.Atoi(string(m.Payload))
				if err != nil {
					t.Fatalf("payload %q", m.Payload)
				}
				if !seen[v] {
					if v < highest {
						t.Fatalf("message %d arrived new after %d: order broken", v, highest)
					}
					seen[v] = true
					highest = v
				}
				c.send(&mqtt.Puback{PacketID: m.PacketID})
			case <-stop:
				break recv
			}
		}
		if round%2 == 0 {
			c.nc.Close() // drop without DISCONNECT
		} else {
			c.send(&mqtt.Disconnect{})
		}
		c = dialTCP(t, addr(fes[(round+1)%2], "mqtt"), mqtt.V5)
		if ack := c.connect(&mqtt.Connect{ClientID: id, Properties: exp}); !ack.SessionPresent {
			t.Fatalf("round %d: session not present", round)
		}
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
}
