package e2e

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// aclLate is testACL with alice also denied home/late/#: the rules after
// the change made while her sessions are away.
var aclLate = strings.Replace(testACL, "topic deny home/secret/#\n", "topic deny home/secret/#\ntopic deny home/late/#\n", 1)

// persistentConnect is an MQTT 5 CONNECT as alice that resumes or keeps
// a session for an hour, with the given Receive Maximum (0: none).
func persistentConnect(id string, receiveMax uint16) *mqtt.Connect {
	cp := v5Connect(id, "alice", "alice-pw")
	cp.CleanStart = false
	cp.Properties.SessionExpiry = mqtt.Ptr(uint32(3600))
	if receiveMax > 0 {
		cp.Properties.ReceiveMaximum = mqtt.Ptr(receiveMax)
	}
	return cp
}

// deliveries reads PUBLISHes until stop says so (or waitFor passes, a
// failure), then for quiet more; it acknowledges them when ack is set.
// It returns the PUBLISHes by topic.
func (c *rawConn) deliveries(ack bool, quiet time.Duration, stop func(map[string]*mqtt.Publish) bool) map[string]*mqtt.Publish {
	c.t.Helper()
	seen := map[string]*mqtt.Publish{}
	deadline := time.Now().Add(waitFor)
	stopped := false
	for {
		if !stopped && stop(seen) {
			stopped = true
			deadline = time.Now().Add(quiet)
		}
		_ = c.nc.SetReadDeadline(deadline)
		p, err := c.r.ReadPacket(c.v)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && stopped {
			return seen
		}
		if err != nil {
			c.t.Fatalf("reading deliveries: %v (seen %d)", err, len(seen))
		}
		pub, ok := p.(*mqtt.Publish)
		if !ok {
			continue
		}
		seen[pub.Topic] = pub
		if ack && pub.QoS == 1 {
			c.send(&mqtt.Puback{PacketID: pub.PacketID})
		}
	}
}

// has reports whether every topic was delivered.
func has(topics ...string) func(map[string]*mqtt.Publish) bool {
	return func(seen map[string]*mqtt.Publish) bool {
		for _, tp := range topics {
			if seen[tp] == nil {
				return false
			}
		}
		return true
	}
}

// TestACLOnEveryDeliveryPath is invariant 10 on the real stack: on every
// path a message takes to a subscriber (live, shared subscription,
// retained, offline queue, log scan at resume, resend of inflight) a topic
// the ACL denies is not delivered while an allowed one is, the rules that
// apply are the ones in force at delivery (the ACL file changes while
// sessions are away), each refusal is counted as a read denial, and none
// holds a session back: it is not delivered later either.
func TestACLOnEveryDeliveryPath(t *testing.T) {
	a := newAuthSetup(t, "cn")
	ctx := context.Background()
	sessions := session.NewReaderOptions(a.c.rdb, session.Options{Prefix: a.c.prefix})
	load := func(cid string) session.State {
		t.Helper()
		st, err := sessions.Load(ctx, session.Partition(cid, testPartitions), cid)
		if err != nil {
			t.Fatalf("load %s: %v", cid, err)
		}
		return st
	}
	admin := dialRaw(t, a.plain, mqtt.V5)
	if got := admin.connack(v5Connect("paths-admin", "admin", "admin-pw")); got != mqtt.Success {
		t.Fatalf("admin: CONNACK 0x%02x", byte(got))
	}
	var pid uint16
	publish := func(retain bool, topics ...string) {
		t.Helper()
		for _, tp := range topics {
			pid++
			admin.send(&mqtt.Publish{PacketID: pid, QoS: 1, Retain: retain, Topic: tp, Payload: []byte(tp)})
			for {
				p, err := admin.read()
				if err != nil {
					t.Fatalf("admin: %v", err)
				}
				if ack, ok := p.(*mqtt.Puback); ok && ack.PacketID == pid {
					if ack.ReasonCode.IsError() {
						t.Fatalf("publish %s: PUBACK 0x%02x", tp, byte(ack.ReasonCode))
					}
					break
				}
			}
		}
	}
	alice := func(cp *mqtt.Connect) *rawConn {
		t.Helper()
		c := dialRaw(t, a.plain, mqtt.V5)
		if got := c.connack(cp); got != mqtt.Success {
			t.Fatalf("%s: CONNACK 0x%02x", cp.ClientID, byte(got))
		}
		return c
	}
	denied := func() float64 {
		return metricValue(t, a.regs[0], "tidemark_frontend_denied_total", map[string]string{"action": "read"})
	}
	expect := func(t *testing.T, path string, got map[string]*mqtt.Publish, allowed, refused []string) {
		t.Helper()
		for _, tp := range allowed {
			if got[tp] == nil {
				t.Errorf("%s: %s not delivered", path, tp)
			}
		}
		for _, tp := range refused {
			if got[tp] != nil {
				t.Errorf("%s: %s delivered, which the ACL denies", path, tp)
			}
		}
	}
	start := denied()

	// Sessions that will be away when the rules change: an offline queue,
	// and a session held up by its Receive Maximum (2 in flight, 2 more
	// waiting), to be taken over.
	queued := alice(persistentConnect("paths-queued", 0))
	queued.subscribe(1, "home/#")
	queued.send(&mqtt.Disconnect{})
	queued.expectClosed()
	waitUntil(t, "paths-queued offline", func() bool { st := load("paths-queued"); return st.Exists && !st.Meta.Online })
	publish(false, "home/secret/q", "home/open/q", "home/late/q")
	waitUntil(t, "paths-queued queue filled", func() bool { return len(load("paths-queued").Queue) == 3 })

	held := alice(persistentConnect("paths-held", 2))
	held.subscribe(1, "home/#")
	publish(false, "home/late/t1", "home/open/t2") // both sent to held, never acknowledged
	got := held.deliveries(false, 0, has("home/late/t1", "home/open/t2"))
	publish(false, "home/late/t3", "home/open/t4") // wait behind the window
	expect(t, "live, before the change", got, []string{"home/late/t1", "home/open/t2"}, nil)
	waitUntil(t, "paths-held inflight logged", func() bool { return len(load("paths-held").Inflight) == 2 })

	writeAtomic(t, a.acl, aclLate)
	probe := alice(v5Connect("paths-probe", "alice", "alice-pw"))
	var probeID uint16 = 10
	waitUntil(t, "the ACL change in force", func() bool {
		probeID++
		return probe.subscribe(probeID, "home/late/x")[0] == mqtt.NotAuthorized
	})

	t.Run("offline queue", func(t *testing.T) {
		c := alice(persistentConnect("paths-queued", 0))
		expect(t, "offline queue", c.deliveries(true, time.Second, has("home/open/q")),
			[]string{"home/open/q"}, []string{"home/secret/q", "home/late/q"})
		c.send(&mqtt.Disconnect{})
		c.expectClosed()
		// The refused ones did not stay queued for a later resume.
		c = alice(persistentConnect("paths-queued", 0))
		if again := c.quiet(time.Second); len(again) != 0 {
			t.Errorf("delivered again at the next resume: %v", again)
		}
	})
	t.Run("resend of inflight and log scan", func(t *testing.T) {
		// A takeover: the session never went offline, so what the old
		// connection had not finished comes from its inflight list (t1, t2)
		// and from the log from its cursor (t3, t4).
		c := alice(persistentConnect("paths-held", 0))
		got := c.deliveries(true, time.Second, has("home/open/t2", "home/open/t4"))
		expect(t, "resend and scan", got, []string{"home/open/t2", "home/open/t4"}, []string{"home/late/t1", "home/late/t3"})
		if p := got["home/open/t2"]; p != nil && !p.Dup {
			t.Error("home/open/t2 was resent without DUP")
		}
		waitUntil(t, "nothing of paths-held left in flight", func() bool { return len(load("paths-held").Inflight) == 0 })
	})
	t.Run("live", func(t *testing.T) {
		c := alice(v5Connect("paths-live", "alice", "alice-pw"))
		c.subscribe(1, "home/#")
		publish(false, "home/secret/live", "home/late/live", "home/open/live")
		expect(t, "live", c.deliveries(true, time.Second, has("home/open/live")),
			[]string{"home/open/live"}, []string{"home/secret/live", "home/late/live"})
	})
	t.Run("shared subscription", func(t *testing.T) {
		c := alice(v5Connect("paths-share", "alice", "alice-pw"))
		c.subscribe(1, "$share/paths/home/#")
		publish(false, "home/secret/share", "home/open/share")
		expect(t, "shared", c.deliveries(true, time.Second, has("home/open/share")),
			[]string{"home/open/share"}, []string{"home/secret/share"})
		// A denial completes the record for the group: what follows still
		// arrives.
		publish(false, "home/open/share2")
		c.deliveries(true, 0, has("home/open/share2"))
	})
	t.Run("retained", func(t *testing.T) {
		publish(true, "home/secret/ret", "home/late/ret", "home/open/ret")
		c := alice(v5Connect("paths-retained", "alice", "alice-pw"))
		c.subscribe(1, "home/#")
		expect(t, "retained", c.deliveries(true, time.Second, has("home/open/ret")),
			[]string{"home/open/ret"}, []string{"home/secret/ret", "home/late/ret"})
	})
	// live 2, shared 1, retained 2, queue 2, resend 1, scan 1.
	if n := denied() - start; n < 9 {
		t.Errorf("read denials counted %v, want at least 9", n)
	}
}
