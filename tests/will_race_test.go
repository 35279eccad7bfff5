package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// racer is one of two connections of a ClientID whose CONNECTs race.
type racer struct {
	rc     *rawConn
	will   string // its will's topic
	acked  bool   // it got an accepting CONNACK
	closed chan struct{}
}

// TestRacingConnectsWills: two CONNECTs of one ClientID, each with a will,
// are sent back to back, to one frontend and to two. Whichever loses is
// either superseded before its CONNACK, and then its will is never
// published (SESSIONS.md, "Wills": it was never accepted), or taken over
// after it, and then its will is published exactly once; the winner's,
// still connected, is not. Every superseded will is settled by word of its
// connection's end from its frontend, not by the session service's
// deadline for it.
func TestRacingConnectsWills(t *testing.T) {
	c := newCluster(t, options{frontends: 2})
	watcher, _ := c.dial(0, "race-watcher", true)
	watcher.subscribe("will/race/#", 1)
	sessions := session.NewReaderOptions(c.rdb, session.Options{Prefix: c.prefix})
	const rounds = 10
	variants := []struct {
		name   string
		second int // frontend of the second CONNECT
		v      mqtt.Version
		// afterAck: the second CONNECT is sent once the first is accepted
		// (the control: a will that is owed).
		afterAck bool
	}{
		{"one frontend, MQTT 5", 0, mqtt.V5, false},
		{"two frontends, MQTT 5", 1, mqtt.V5, false},
		{"one frontend, 3.1.1", 0, mqtt.V311, false},
		{"two frontends, 3.1.1", 1, mqtt.V311, false},
		{"two frontends, MQTT 5, after the CONNACK", 1, mqtt.V5, true},
		{"two frontends, 3.1.1, after the CONNACK", 1, mqtt.V311, true},
	}
	var (
		all  [][2]*racer
		cids []string
	)
	for vi, v := range variants {
		for i := range rounds {
			cid := fmt.Sprintf("race-%d-%d", vi, i)
			cids = append(cids, cid)
			pair := [2]*racer{}
			var wire [2][]byte
			for k, fe := range []int{0, v.second} {
				r := &racer{rc: dialRaw(t, c.addr(fe), v.v), will: fmt.Sprintf("will/race/%s/%c", cid, 'A'+k), closed: make(chan struct{})}
				cp := &mqtt.Connect{ClientID: cid, KeepAlive: 30, CleanStart: v.v != mqtt.V5,
					Will: &mqtt.Will{Topic: r.will, Payload: []byte("gone"), QoS: 1}}
				if v.v == mqtt.V5 {
					cp.Properties.SessionExpiry = mqtt.Ptr(uint32(600))
				}
				b, err := mqtt.AppendPacket(nil, cp, v.v)
				if err != nil {
					t.Fatal(err)
				}
				pair[k], wire[k] = r, b
			}
			pair[0].rc.write(wire[0])
			if !v.afterAck {
				pair[1].rc.write(wire[1])
			}
			for k, r := range pair {
				if k == 1 && v.afterAck {
					pair[1].rc.write(wire[1])
				}
				p, err := r.rc.read()
				if ack, ok := p.(*mqtt.Connack); err == nil && (!ok || ack.ReasonCode != mqtt.Success) {
					t.Fatalf("%s: got %T %+v, want CONNACK 0 or the connection closed", r.will, p, p)
				}
				r.acked = err == nil
				go func() {
					defer close(r.closed)
					for {
						if _, err := r.rc.read(); err != nil {
							return
						}
					}
				}()
			}
			all = append(all, pair)
		}
	}
	open := func(r *racer) bool {
		select {
		case <-r.closed:
			return false
		default:
			return true
		}
	}
	// The loser of each race is closed, with or without its CONNACK.
	waitUntil(t, "one connection left per ClientID", func() bool {
		for _, pair := range all {
			if open(pair[0]) && open(pair[1]) {
				return false
			}
		}
		return true
	})
	want := map[string]bool{}
	superseded := 0
	for _, pair := range all {
		winners := 0
		for _, r := range pair {
			switch {
			case !r.acked:
				superseded++
			case open(r):
				winners++
			default:
				want[r.will] = true // accepted, then taken over
			}
		}
		if winners != 1 {
			t.Fatalf("%s: %d connections still connected, want 1", pair[0].will, winners)
		}
	}
	t.Logf("%d races: %d losers superseded before their CONNACK, %d taken over after it", len(all), superseded, len(want))
	if superseded == 0 {
		t.Fatal("no connection was superseded before its CONNACK: the race was not exercised")
	}
	ctx := context.Background()
	waitUntil(t, "every superseded will settled", func() bool {
		for _, cid := range cids {
			m, err := sessions.Meta(ctx, session.Partition(cid, testPartitions), cid)
			if err != nil || m == nil || len(m.Superseded) > 0 {
				return false
			}
		}
		return len(watcher.received()) >= len(want)
	})
	time.Sleep(500 * time.Millisecond) // a will owed to nobody would arrive as soon
	got := map[string]int{}
	for _, m := range watcher.received() {
		got[m.Topic]++
	}
	for topic, n := range got {
		if !want[topic] || n != 1 {
			t.Errorf("will %s published %d times, want %d", topic, n, b01(want[topic]))
		}
	}
	for topic := range want {
		if got[topic] == 0 {
			t.Errorf("will %s of a connection taken over after its CONNACK not published", topic)
		}
	}
	for _, cid := range cids {
		for _, e := range c.life.events(cid) {
			if w, ok := e.Data.(*events.WillPublished); ok && !strings.HasPrefix(w.Node, "fe-") {
				t.Errorf("%s: will published by %s (its deadline), not on word of its connection's end", cid, w.Node)
			}
		}
	}
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}
