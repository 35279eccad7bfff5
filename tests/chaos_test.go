package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// envInt reads a positive integer knob of the randomized test.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// delivery is one PUBLISH a chaos subscriber received.
type delivery struct {
	topic, payload string
	qos            byte
	dup            bool
	pid            uint16
}

// chaosSub is a persistent subscriber whose deliveries survive its
// reconnects, as a device's application would see them.
type chaosSub struct {
	id  string
	mu  sync.Mutex
	got []delivery
	cl  paho.Client
	fe  int
}

// chaosPub publishes numbered messages and remembers which were
// acknowledged.
type chaosPub struct {
	id    string
	mu    sync.Mutex
	acked map[string][]int // topic -> acknowledged sequence numbers, in order
	at    map[string]time.Time
}

// TestRandomizedSessions is the long-run check of invariants 2, 5 and 6: a
// fixed seed drives persistent subscribers and publishers on two frontends
// through random disconnects, takeovers and reconnects to the other
// frontend, with a restart of the session service and of a frontend in the
// middle. At the end no acknowledged QoS 1/2 message is missing, no QoS 2
// message was delivered twice under a new packet id (a repeat must be a DUP
// with the same id), per-topic order holds, and every connected event is
// paired with one disconnected event.
//
// TIDEMARK_CHAOS_SEED and TIDEMARK_CHAOS_STEPS change the seed and length.
func TestRandomizedSessions(t *testing.T) {
	seed := int64(envInt("TIDEMARK_CHAOS_SEED", 1))
	steps := envInt("TIDEMARK_CHAOS_STEPS", 24)
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d, %d steps", seed, steps)

	c := newCluster(t, options{})
	const nSubs, nPubs = 3, 2

	subs := make([]*chaosSub, nSubs)
	for i := range subs {
		subs[i] = &chaosSub{id: fmt.Sprintf("chaos-sub-%d", i)}
		c.connectChaosSub(subs[i], i%2, false)
		tok := subs[i].cl.Subscribe("chaos/#", 2, nil)
		if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
	}

	// Publishers run until stop; each reconnects to the other frontend
	// when its connection is lost.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	pubs := make([]*chaosPub, nPubs)
	var feMu sync.RWMutex // held for writing while a frontend restarts
	for i := range pubs {
		pubs[i] = &chaosPub{id: fmt.Sprintf("chaos-pub-%d", i), acked: map[string][]int{}, at: map[string]time.Time{}}
		wg.Add(1)
		go func(p *chaosPub, fe int) {
			defer wg.Done()
			c.runChaosPub(p, fe, stop, &feMu)
		}(pubs[i], i%2)
	}

	restartSessiondAt, restartFrontendAt := steps/3, 2*steps/3
	began := time.Now()
	for step := 0; step < steps; step++ {
		time.Sleep(time.Duration(100+rng.Intn(200)) * time.Millisecond)
		switch {
		case step == restartSessiondAt:
			t.Logf("step %d (%v): restart the session service", step, time.Since(began).Round(time.Millisecond))
			c.sd.stop()
			c.startSessiond()
		case step == restartFrontendAt:
			fe := rng.Intn(2)
			t.Logf("step %d (%v): restart frontend %d", step, time.Since(began).Round(time.Millisecond), fe)
			feMu.Lock()
			c.fes[fe].stop()
			c.fes[fe] = c.startFrontend(fe)
			feMu.Unlock()
			for _, s := range subs {
				if s.fe == fe {
					c.connectChaosSub(s, 1-fe, true)
				}
			}
		default:
			s := subs[rng.Intn(nSubs)]
			other := 1 - s.fe
			if rng.Intn(2) == 0 {
				t.Logf("step %d (%v): %s disconnects and comes back on frontend %d", step, time.Since(began).Round(time.Millisecond), s.id, other)
				s.cl.Disconnect(50)
			} else {
				t.Logf("step %d (%v): %s is taken over on frontend %d", step, time.Since(began).Round(time.Millisecond), s.id, other)
			}
			c.connectChaosSub(s, other, true)
		}
	}
	close(stop)
	wg.Wait()

	// Every acknowledged message must reach every subscriber.
	want := map[string][]int{}
	total := 0
	for _, p := range pubs {
		for topic, seqs := range p.acked {
			want[topic] = append(want[topic], seqs...)
			total += len(seqs)
		}
	}
	t.Logf("%d acknowledged messages", total)
	if total == 0 {
		t.Fatal("no message was acknowledged: the test tested nothing")
	}
	for _, s := range subs {
		deadline := time.Now().Add(waitFor)
		for {
			missing, some := s.missing(want)
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				var when []string
				for _, k := range some {
					for _, p := range pubs {
						if at, ok := p.at[k]; ok {
							when = append(when, at.Sub(began).Round(time.Millisecond).String())
						}
					}
				}
				t.Errorf("%s: %d acknowledged messages never delivered, among them %v, acknowledged at %v", s.id, missing, some, when)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		s.check(t)
		s.cl.Disconnect(50)
	}
	for _, s := range subs {
		c.life.waitPaired(s.id)
	}
	for _, p := range pubs {
		c.life.waitPaired(p.id)
	}
}

// connectChaosSub (re)connects s on frontend fe with CleanSession=0; the
// older connection, if still open, is taken over. present is the Session
// Present flag the CONNACK must carry.
func (c *cluster) connectChaosSub(s *chaosSub, fe int, present bool) {
	c.t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + c.addr(fe)).SetClientID(s.id).SetCleanSession(false).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).SetProtocolVersion(4).
		SetOrderMatters(true).SetConnectTimeout(waitFor).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			s.mu.Lock()
			s.got = append(s.got, delivery{m.Topic(), string(m.Payload()), m.Qos(), m.Duplicate(), m.MessageID()})
			s.mu.Unlock()
		})
	// A CONNECT may be refused with Server Unavailable while the session
	// service restarts; a device would try again, and so does the test.
	var cl paho.Client
	var tok paho.Token
	for attempt := 1; ; attempt++ {
		cl = paho.NewClient(opts)
		tok = cl.Connect()
		if !tok.WaitTimeout(waitFor) {
			c.t.Fatalf("%s: connect on frontend %d timed out", s.id, fe)
		}
		if tok.Error() == nil {
			break
		}
		if attempt == 5 {
			c.t.Fatalf("%s: connect on frontend %d: %v", s.id, fe, tok.Error())
		}
		c.t.Logf("%s: connect on frontend %d refused (%v); again", s.id, fe, tok.Error())
		time.Sleep(time.Second)
	}
	if got := tok.(*paho.ConnectToken).SessionPresent(); got != present {
		c.t.Errorf("%s: Session Present %v on frontend %d, want %v", s.id, got, fe, present)
	}
	s.mu.Lock()
	s.cl, s.fe = cl, fe
	s.mu.Unlock()
}

// runChaosPub publishes QoS 1 and QoS 2 messages on two topics of its own
// until stop, reconnecting to the other frontend whenever it loses its
// connection. Only messages whose acknowledgement arrived are counted.
func (c *cluster) runChaosPub(p *chaosPub, fe int, stop <-chan struct{}, feMu *sync.RWMutex) {
	var cl paho.Client
	connect := func() bool {
		feMu.RLock()
		defer feMu.RUnlock()
		opts := paho.NewClientOptions().AddBroker("tcp://" + c.addr(fe)).SetClientID(p.id).SetCleanSession(true).
			SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).SetConnectTimeout(5 * time.Second)
		cl = paho.NewClient(opts)
		tok := cl.Connect()
		return tok.WaitTimeout(10*time.Second) && tok.Error() == nil
	}
	for !connect() {
		fe = 1 - fe
	}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			cl.Disconnect(50)
			return
		default:
		}
		qos := byte(1 + seq%2)
		topic := fmt.Sprintf("chaos/%s/q%d", p.id, qos)
		tok := cl.Publish(topic, qos, false, strconv.Itoa(seq))
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			p.mu.Lock()
			p.acked[topic] = append(p.acked[topic], seq)
			p.at[topic+"#"+strconv.Itoa(seq)] = time.Now()
			p.mu.Unlock()
			continue
		}
		// Not acknowledged: it may or may not be delivered. Move over.
		cl.Disconnect(0)
		fe = 1 - fe
		for !connect() {
			select {
			case <-stop:
				return
			default:
			}
			fe = 1 - fe
		}
	}
}

// missing counts the acknowledged messages s has not received, and names
// the first few.
func (s *chaosSub) missing(want map[string][]int) (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range s.got {
		seen[d.topic+"#"+d.payload] = true
	}
	n := 0
	var some []string
	for topic, seqs := range want {
		for _, seq := range seqs {
			if k := topic + "#" + strconv.Itoa(seq); !seen[k] {
				n++
				if len(some) < 10 {
					some = append(some, k)
				}
			}
		}
	}
	sort.Strings(some)
	return n, some
}

// check asserts per-topic order of first deliveries, and that a QoS 2
// message delivered again was a DUP carrying its first packet id.
func (s *chaosSub) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	first := map[string]delivery{}
	last := map[string]int{}
	for _, d := range s.got {
		key := d.topic + "#" + d.payload
		seq, _ := strconv.Atoi(d.payload)
		if prev, ok := first[key]; ok {
			if d.qos == 2 && (!d.dup || d.pid != prev.pid) {
				t.Errorf("%s: QoS 2 message %s delivered again (dup=%v, packet id %d, first %d)", s.id, key, d.dup, d.pid, prev.pid)
			}
			continue
		}
		first[key] = d
		if l, ok := last[d.topic]; ok && seq < l {
			t.Errorf("%s: %s: message %d first delivered after %d", s.id, d.topic, seq, l)
		}
		last[d.topic] = seq
	}
}
