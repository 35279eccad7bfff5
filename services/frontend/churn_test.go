package frontend

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestIntegrationNothingMissing is invariant 2 under churn: a persistent
// subscriber keeps dropping its connection and coming back on the other
// frontend while a publisher sends a numbered stream. Every message
// arrives and new messages arrive in publish order; at QoS 1 unacknowledged
// ones may repeat, at QoS 2 a message is never delivered twice as new (the
// client, as MQTT requires, treats a PUBLISH for a packet id it answered
// with PUBREC as a duplicate until PUBREL).
func TestIntegrationNothingMissing(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) { churn(t, qos) })
	}
}

func churn(t *testing.T, qos byte) {
	st := newStack(t)
	fes := []*Server{st.frontend("fe-a"), st.frontend("fe-b")}
	tp := uniqueTopic(t)
	id := "churn-" + t.Name()
	exp := mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(600))}

	c := dialTCP(t, addr(fes[0], "mqtt"), mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: id, CleanStart: true, Properties: exp})
	subscribe(t, c, 1, mqtt.Subscription{Filter: tp, QoS: qos})

	const n = 300
	pubDone := make(chan error, 1)
	go func() {
		pub := dialTCP(t, addr(fes[1], "mqtt"), mqtt.V5)
		pub.connect(&mqtt.Connect{ClientID: "pub-" + id, CleanStart: true})
		for i := 0; i < n; i++ {
			pid := uint16(i%60000 + 1)
			pub.send(&mqtt.Publish{Topic: tp, QoS: qos, PacketID: pid, Payload: []byte(strconv.Itoa(i))})
			ack := pub.next(30 * time.Second)
			if qos == 2 {
				if _, ok := ack.(*mqtt.Pubrec); !ok {
					pubDone <- fmt.Errorf("message %d: no PUBREC", i)
					return
				}
				pub.send(&mqtt.Pubrel{PacketID: pid})
				ack = pub.next(30 * time.Second)
				if _, ok := ack.(*mqtt.Pubcomp); !ok {
					pubDone <- fmt.Errorf("message %d: no PUBCOMP", i)
					return
				}
			} else if _, ok := ack.(*mqtt.Puback); !ok {
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
	pubrecSent := map[uint16]int{} // QoS 2 receiver state, kept across connections
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
				if rel, ok := p.(*mqtt.Pubrel); ok {
					delete(pubrecSent, rel.PacketID)
					c.send(&mqtt.Pubcomp{PacketID: rel.PacketID})
					continue
				}
				m, isPub := p.(*mqtt.Publish)
				if !isPub {
					continue
				}
				v, err := strconv.Atoi(string(m.Payload))
				if err != nil {
					t.Fatalf("payload %q", m.Payload)
				}
				if qos == 2 {
					if prev, ok := pubrecSent[m.PacketID]; ok {
						if !m.Dup || prev != v {
							t.Fatalf("packet id %d awaiting PUBREL (message %d) reused for message %d dup=%v", m.PacketID, prev, v, m.Dup)
						}
						c.send(&mqtt.Pubrec{PacketID: m.PacketID})
						continue
					}
					if seen[v] {
						t.Fatalf("message %d delivered twice at QoS 2 (packet id %d, dup=%v)", v, m.PacketID, m.Dup)
					}
					pubrecSent[m.PacketID] = v
				}
				if !seen[v] {
					if v < highest {
						t.Fatalf("message %d arrived new after %d: order broken", v, highest)
					}
					seen[v] = true
					highest = v
				}
				if qos == 2 {
					c.send(&mqtt.Pubrec{PacketID: m.PacketID})
				} else {
					c.send(&mqtt.Puback{PacketID: m.PacketID})
				}
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
