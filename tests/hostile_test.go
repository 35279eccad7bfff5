package e2e

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// Hostile-client test parameters.
const (
	// halfOpen connections are opened and never send CONNECT.
	halfOpen = 2000
	// floodRate is the test frontend's per-connection publish rate.
	floodRate = 500
	// floodCount PUBLISHes are sent by the flooding client.
	floodCount = 3000
	// roundTrips of the well-behaved pair run while the others misbehave.
	roundTrips = 200
	// rttBound is the stated bound on the 99th percentile QoS 1 round trip
	// (publish to delivery) of a well-behaved client while the others
	// misbehave: generous, for a loaded 2-core machine with the race
	// detector on; a healthy run is in the tens of milliseconds.
	rttBound = 2 * time.Second
)

// raiseFileLimit lifts the soft open-files limit to what the test needs
// (both ends of every connection live in this process).
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Skipf("open-files limit %d is below the %d this test needs", lim.Max, need)
	}
	old := lim.Cur
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lim.Cur = old
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
}

// TestHostileClients runs the clients a broker exposed to device fleets
// meets, all at once against one frontend: thousands of half-open
// connections that never send CONNECT, a client flooding PUBLISH (QoS 0
// and 1) as fast as it can, one sending garbage, one subscribing to #,
// one sending a 10 MB packet. Meanwhile a well-behaved publisher and
// subscriber do QoS 1 round trips. It checks that every acknowledged
// message of the pair arrives and that their round trip stays within
// rttBound at the 99th percentile; that the flood is slowed to the publish
// rate and none of it is lost (every message it sent reaches the #
// subscriber, and every QoS 1 one is acknowledged); that the garbage and oversized clients are disconnected
// with 0x81 and 0x95; and that every half-open connection is closed after
// the CONNECT timeout and counted.
func TestHostileClients(t *testing.T) {
	raiseFileLimit(t, 3*halfOpen+1000)
	began := time.Now()
	reg := prometheus.NewRegistry()
	c := newCluster(t, options{frontends: 1, tune: func(_ int, cfg *frontend.Config) {
		cfg.Registry = reg
		cfg.ConnectTimeout = 3 * time.Second
		cfg.Limits = frontend.Limits{PublishRate: floodRate}
	}})
	addr := c.addr(0)

	all, _ := c.dial(0, "hostile-all", true)
	all.subscribe("#", 1)
	goodSub, _ := c.dial(0, "good-sub", true)
	goodSub.subscribe("good/rt", 1)
	goodPub, _ := c.dial(0, "good-pub", true)

	// Half-open connections, dialled in the background.
	var (
		hoMu    sync.Mutex
		hoConns []net.Conn
		hoErr   error
	)
	hoDone := make(chan struct{})
	go func() {
		defer close(hoDone)
		for i := 0; i < halfOpen; i++ {
			nc, err := net.DialTimeout("tcp", addr, waitFor)
			hoMu.Lock()
			if err != nil {
				hoErr = err
				hoMu.Unlock()
				return
			}
			hoConns = append(hoConns, nc)
			hoMu.Unlock()
		}
	}()

	// The flood: floodCount PUBLISHes of 1 KiB, QoS 0 with every tenth at
	// QoS 1, written as fast as the socket takes them, then DISCONNECT. A
	// raw connection, so that nothing but TCP stands between the flood and
	// the broker; a reader goroutine collects the PUBACKs.
	flood := dialRaw(t, addr, mqtt.V5)
	flood.connect("hostile-flood")
	floodStart := time.Now()
	floodAcks := make(chan map[uint16]bool, 1)
	go func() {
		acked := map[uint16]bool{}
		for {
			p, err := flood.r.ReadPacket(mqtt.V5)
			if err != nil {
				floodAcks <- acked
				return
			}
			if a, ok := p.(*mqtt.Puback); ok && a.ReasonCode == mqtt.Success {
				acked[a.PacketID] = true
			}
		}
	}()
	floodWritten := make(chan error, 1)
	go func() {
		payload := make([]byte, 1024)
		var buf []byte
		for i := 0; i < floodCount; i++ {
			p := &mqtt.Publish{Topic: "flood/x", Payload: append([]byte(fmt.Sprintf("flood-%d ", i)), payload...)}
			if i%10 == 0 {
				p.QoS, p.PacketID = 1, uint16(i/10+1)
			}
			buf, _ = mqtt.AppendPacket(buf[:0], p, mqtt.V5)
			_ = flood.nc.SetWriteDeadline(time.Now().Add(2 * waitFor))
			if _, err := flood.nc.Write(buf); err != nil {
				floodWritten <- fmt.Errorf("flood PUBLISH %d: %w", i, err)
				return
			}
		}
		buf, _ = mqtt.AppendPacket(buf[:0], &mqtt.Disconnect{}, mqtt.V5)
		_, err := flood.nc.Write(buf)
		floodWritten <- err
	}()

	// Garbage after a valid CONNECT: a reserved packet type with reserved
	// flags and a five-byte Remaining Length.
	garbage := dialRaw(t, addr, mqtt.V5)
	garbage.connect("hostile-garbage")
	garbage.write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37})
	garbage.expectDisconnect(mqtt.MalformedPacket)
	// Garbage instead of CONNECT: closed without an answer.
	junk := dialRaw(t, addr, mqtt.V5)
	junk.write([]byte("GET / HTTP/1.1\r\nHost: broker\r\n\r\n"))
	junk.expectClosed()

	// A 10 MB PUBLISH, sent in full: refused from its fixed header.
	big := dialRaw(t, addr, mqtt.V5)
	big.connect("hostile-big")
	go func() {
		b, _ := mqtt.AppendPacket(nil, &mqtt.Publish{Topic: "big", Payload: make([]byte, 10<<20)}, mqtt.V5)
		_ = big.nc.SetWriteDeadline(time.Now().Add(waitFor))
		_, _ = big.nc.Write(b) // fails once the server closes
	}()
	big.expectDisconnect(mqtt.PacketTooLarge)

	// The well-behaved pair, while the flood runs and the half-open
	// connections wait for their timeout.
	rtts := make([]time.Duration, 0, roundTrips)
	for i := 1; i <= roundTrips; i++ {
		start := time.Now()
		payload := fmt.Sprintf("rt-%d", i)
		goodPub.publish("good/rt", 1, payload)
		got := goodSub.waitMessages(i)
		if got[i-1].Payload != payload {
			t.Fatalf("round trip %d: got %q, want %q", i, got[i-1].Payload, payload)
		}
		rtt := time.Since(start)
		if rtt > rttBound/4 {
			t.Logf("round trip %d took %v (%v into the test)", i, rtt, time.Since(began))
		}
		rtts = append(rtts, rtt)
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(rtts)
	p50, p99 := rtts[len(rtts)/2], rtts[len(rtts)*99/100]
	t.Logf("well-behaved QoS 1 round trip under attack: p50 %v, p99 %v, max %v", p50, p99, rtts[len(rtts)-1])
	if p99 > rttBound {
		t.Errorf("round trip p99 %v, want under %v", p99, rttBound)
	}

	// The flood is read to its DISCONNECT: every QoS 1 PUBLISH is
	// acknowledged, and every message reaches the # subscriber ...
	if err := <-floodWritten; err != nil {
		t.Fatal(err)
	}
	var acked map[uint16]bool
	select {
	case acked = <-floodAcks:
	case <-time.After(2 * waitFor):
		t.Fatal("the server did not close the flood connection after its DISCONNECT")
	}
	if want := (floodCount + 9) / 10; len(acked) != want {
		t.Errorf("%d of the flood's %d QoS 1 PUBLISHes acknowledged", len(acked), want)
	}
	var lastAt time.Time
	deadline := time.Now().Add(waitFor)
	for {
		got := map[string]bool{}
		for _, m := range all.received() {
			if m.Topic == "flood/x" {
				got[m.Payload[:strings.IndexByte(m.Payload, ' ')]] = true
			}
		}
		if len(got) == floodCount {
			lastAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d flood messages reached the # subscriber", len(got), floodCount)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ... but slowed to the publish rate: with a burst of one second's
	// worth, reading it all takes at least (floodCount-floodRate)/floodRate
	// seconds. A lower bound only: a slow machine makes it longer.
	took := lastAt.Sub(floodStart)
	t.Logf("flood: %d PUBLISHes read in %v through a %d/s limit", floodCount, took, floodRate)
	if least := time.Duration(float64(floodCount-floodRate) / floodRate * float64(time.Second)); took < least*9/10 {
		t.Errorf("flood of %d read in %v, faster than the %d/s limit allows (%v)", floodCount, took, floodRate, least)
	}
	if limitHits(t, reg, "publish_rate") == 0 {
		t.Error("the flood never hit the publish rate")
	}

	// Every half-open connection is closed by the server, and counted.
	<-hoDone
	if hoErr != nil {
		t.Fatalf("dial half-open connection %d: %v", len(hoConns), hoErr)
	}
	closed := 0
	buf := make([]byte, 1)
	end := time.Now().Add(waitFor)
	for _, nc := range hoConns {
		_ = nc.SetReadDeadline(end)
		if _, err := nc.Read(buf); err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				closed++
			}
		}
		nc.Close()
	}
	if closed != halfOpen {
		t.Errorf("%d of %d half-open connections closed by the server", closed, halfOpen)
	}
	if n := limitHits(t, reg, "connect_timeout"); n < halfOpen {
		t.Errorf("connect timeouts counted %v, want at least %d", n, halfOpen)
	}
	// The pair and the # subscriber are still connected.
	for _, cl := range []*client{all, goodSub, goodPub} {
		select {
		case err := <-cl.lost:
			t.Errorf("%s lost its connection: %v", cl.id, err)
		default:
		}
	}
}
