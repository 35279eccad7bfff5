package e2e

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// roundRobin is a TCP load balancer of the test's own: each new client
// connection goes to the next frontend that accepts it, as a Kubernetes
// Service would spread them.
type roundRobin struct {
	ln    net.Listener
	addrs func() []string
	mu    sync.Mutex
	next  int
	wg    sync.WaitGroup
}

func newRoundRobin(t *testing.T, addrs func() []string) *roundRobin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rr := &roundRobin{ln: ln, addrs: addrs}
	rr.wg.Add(1)
	go rr.serve()
	t.Cleanup(func() { ln.Close(); rr.wg.Wait() })
	return rr
}

func (rr *roundRobin) serve() {
	defer rr.wg.Done()
	for {
		c, err := rr.ln.Accept()
		if err != nil {
			return
		}
		rr.wg.Add(1)
		go func() { defer rr.wg.Done(); rr.forward(c) }()
	}
}

// forward connects c to the next frontend that answers and copies bytes
// both ways until either side closes.
func (rr *roundRobin) forward(c net.Conn) {
	defer c.Close()
	addrs := rr.addrs()
	var up net.Conn
	for range addrs {
		rr.mu.Lock()
		a := addrs[rr.next%len(addrs)]
		rr.next++
		rr.mu.Unlock()
		var err error
		if up, err = net.DialTimeout("tcp", a, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// TestRollingRestart restarts three in-process frontends one by one, as a
// rolling update does, while publishers and persistent subscribers connected
// through a round-robin balancer keep working. Every client ends connected
// and no acknowledged message is lost (invariant 5).
func TestRollingRestart(t *testing.T) {
	c := newCluster(t, options{frontends: 3})
	var feMu sync.RWMutex // guards c.fes and down against the balancer
	down := map[int]bool{}
	rr := newRoundRobin(t, func() []string {
		feMu.RLock()
		defer feMu.RUnlock()
		var out []string
		for i := range c.fes {
			if !down[i] {
				out = append(out, c.addr(i))
			}
		}
		return out
	})
	rollWhileClientsRun(t, "tcp://"+rr.ln.Addr().String(), len(c.fes), func(i int) {
		feMu.Lock()
		old := c.fes[i]
		down[i] = true
		feMu.Unlock()
		old.stop() // drain: clients are closed and reconnect elsewhere
		fresh := c.startFrontend(i)
		feMu.Lock()
		c.fes[i] = fresh
		down[i] = false
		feMu.Unlock()
	})
}

// rollWhileClientsRun connects three persistent subscribers and two QoS 1
// publishers to broker, calls restart for each of n frontends in turn, and
// then checks that every subscriber is connected and got every
// acknowledged message.
func rollWhileClientsRun(t *testing.T, broker string, n int, restart func(i int)) {
	t.Helper()
	type sub struct {
		id  string
		cl  paho.Client
		mu  sync.Mutex
		got map[string]bool
	}
	subs := make([]*sub, 3)
	for i := range subs {
		s := &sub{id: fmt.Sprintf("roll-sub-%d", i), got: map[string]bool{}}
		opts := paho.NewClientOptions().AddBroker(broker).SetClientID(s.id).SetCleanSession(false).
			SetProtocolVersion(4).SetKeepAlive(5 * time.Second).SetAutoReconnect(true).
			SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
			SetMaxReconnectInterval(500 * time.Millisecond).SetConnectTimeout(5 * time.Second).
			SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
				s.mu.Lock()
				s.got[m.Topic()+"#"+string(m.Payload())] = true
				s.mu.Unlock()
			})
		s.cl = paho.NewClient(opts)
		if tok := s.cl.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", s.id, tok.Error())
		}
		if tok := s.cl.Subscribe("roll/#", 1, nil); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("%s: subscribe: %v", s.id, tok.Error())
		}
		defer s.cl.Disconnect(50)
		subs[i] = s
	}

	// Publishers: numbered QoS 1 messages; only acknowledged ones count.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ackMu sync.Mutex
	var acked []string
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			opts := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("roll-pub-%d", p)).
				SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(true).SetConnectRetry(true).
				SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond)
			cl := paho.NewClient(opts)
			cl.Connect().WaitTimeout(waitFor)
			defer cl.Disconnect(50)
			topic := fmt.Sprintf("roll/p%d", p)
			for seq := 0; seq < 100000; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := cl.Publish(topic, 1, false, strconv.Itoa(seq))
				if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
					ackMu.Lock()
					acked = append(acked, topic+"#"+strconv.Itoa(seq))
					ackMu.Unlock()
				} else {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(p)
	}

	time.Sleep(time.Second)
	for i := 0; i < n; i++ {
		t.Logf("restarting frontend %d", i)
		restart(i)
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	ackMu.Lock()
	want := append([]string(nil), acked...)
	ackMu.Unlock()
	t.Logf("%d acknowledged messages", len(want))
	if len(want) == 0 {
		t.Fatal("no message was acknowledged: the test tested nothing")
	}
	for _, s := range subs {
		deadline := time.Now().Add(waitFor)
		for {
			s.mu.Lock()
			var missing []string
			for _, k := range want {
				if !s.got[k] {
					missing = append(missing, k)
				}
			}
			s.mu.Unlock()
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				if len(missing) > 5 {
					missing = missing[:5]
				}
				t.Errorf("%s: acknowledged messages never delivered, among them %v", s.id, missing)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !s.cl.IsConnected() {
			t.Errorf("%s: not connected at the end", s.id)
		}
	}
}
