package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// limitsCluster has three frontends with small limits: frontend 0 for the
// per-client limits, frontend 1 for the frontend-wide ones (connections,
// CONNECT rate), frontend 2 for the slow consumer bound.
func limitsCluster(t *testing.T) (*cluster, []*prometheus.Registry, *testCA) {
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()}
	ca := newTestCA(t)
	dir := t.TempDir()
	_, certPEM, keyPEM := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, x509.ExtKeyUsageServerAuth)
	for name, data := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := newCluster(t, options{frontends: 3, tune: func(i int, cfg *frontend.Config) {
		cfg.Registry = regs[i]
		switch i {
		case 0:
			cfg.TLSAddr = "127.0.0.1:0"
			cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
			cfg.Limits = frontend.Limits{MaxClientIDLength: 32, MaxSubscriptions: 3, PublishRate: 20,
				MaxTopicLength: 64, MaxTopicLevels: 4}
			cfg.MaxPacketSize = 64 << 10
			cfg.ConnectTimeout = time.Second
			cfg.ReceiveMaximum = 5
		case 1:
			cfg.Limits = frontend.Limits{MaxConnections: 5, ConnectRate: 0.5}
		case 2:
			cfg.Limits = frontend.Limits{PublishRate: -1}
			cfg.MaxPending = 20
		}
	}})
	return c, regs, ca
}

func limitHits(t *testing.T, reg *prometheus.Registry, limit string) float64 {
	t.Helper()
	return metricValue(t, reg, "tidemark_frontend_limit_hits_total", map[string]string{"limit": limit})
}

// expectLimitHit fails unless the limit's counter grew.
func expectLimitHit(t *testing.T, reg *prometheus.Registry, limit string, before float64) {
	t.Helper()
	if after := limitHits(t, reg, limit); after <= before {
		t.Errorf("limit_hits_total{limit=%q} stayed at %v", limit, after)
	}
}

// TestLimits drives each limit with real connections and checks what the
// client sees and that the hit is counted.
func TestLimits(t *testing.T) {
	c, regs, ca := limitsCluster(t)
	fe0, fe1 := c.addr(0), c.addr(1)
	tls0 := c.fes[0].svc.Addr("tls").String()

	t.Run("client id length", func(t *testing.T) {
		before := limitHits(t, regs[0], "client_id_length")
		long := strings.Repeat("x", 33)
		rc := dialRaw(t, fe0, mqtt.V5)
		if got := rc.connack(v5Connect(long, "", "")); got != mqtt.ClientIdentifierNotValid {
			t.Errorf("5.0: CONNACK 0x%02x, want 0x85", byte(got))
		}
		rc3 := dialRaw(t, fe0, mqtt.V311)
		if got := rc3.connack(&mqtt.Connect{ClientID: long + "3", CleanStart: true, KeepAlive: 30}); got != mqtt.ClientIdentifierNotValid {
			t.Errorf("3.1.1: CONNACK 0x%02x, want 0x02", byte(got))
		}
		c.life.waitSteps(long, step{events.ClientConnectRejected, "connack=133"})
		expectLimitHit(t, regs[0], "client_id_length", before)
		// 32 bytes is within the limit.
		ok := dialRaw(t, fe0, mqtt.V5)
		if got := ok.connack(v5Connect(long[:32], "", "")); got != mqtt.Success {
			t.Errorf("32-byte ClientID: CONNACK 0x%02x", byte(got))
		}
	})

	t.Run("subscriptions per client", func(t *testing.T) {
		before := limitHits(t, regs[0], "subscriptions")
		rc := dialRaw(t, fe0, mqtt.V5)
		rc.connect("limit-subs")
		got := rc.subscribe(1, "s/a", "s/b", "s/c", "s/d")
		want := []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.GrantedQoS1, mqtt.GrantedQoS1, mqtt.QuotaExceeded}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SUBACK %v, want %v", got, want)
		}
		// Renewing a held subscription needs no new slot; a new one does.
		if got := rc.subscribe(2, "s/a", "s/e"); fmt.Sprint(got) != fmt.Sprint([]mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.QuotaExceeded}) {
			t.Errorf("renewal SUBACK %v, want [granted quota-exceeded]", got)
		}
		rc3 := dialRaw(t, fe0, mqtt.V311)
		rc3.connect("limit-subs-3")
		if got := rc3.subscribe(1, "s/a", "s/b", "s/c", "s/d"); got[3] != mqtt.UnspecifiedError {
			t.Errorf("3.1.1 SUBACK %v, want 0x80 for the fourth", got)
		}
		expectLimitHit(t, regs[0], "subscriptions", before)
	})

	t.Run("topic length and levels", func(t *testing.T) {
		before := limitHits(t, regs[0], "topic")
		long := strings.Repeat("t", 65)
		deep := "a/b/c/d/e"
		rc := dialRaw(t, fe0, mqtt.V5)
		rc.connect("limit-topic-sub")
		got := rc.subscribe(1, long, deep, "a/b/c/d", "a/+/c/#")
		want := []mqtt.ReasonCode{mqtt.TopicFilterInvalid, mqtt.TopicFilterInvalid, mqtt.GrantedQoS1, mqtt.GrantedQoS1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SUBACK %v, want %v", got, want)
		}
		for _, tp := range []string{long, deep} {
			pub := dialRaw(t, fe0, mqtt.V5)
			pub.connect("limit-topic-pub")
			pub.send(&mqtt.Publish{PacketID: 1, QoS: 1, Topic: tp, Payload: []byte("x")})
			pub.expectDisconnect(mqtt.TopicNameInvalid)
			pub3 := dialRaw(t, fe0, mqtt.V311)
			pub3.connect("limit-topic-pub-3")
			pub3.send(&mqtt.Publish{PacketID: 1, QoS: 1, Topic: tp, Payload: []byte("x")})
			pub3.expectClosed()
		}
		w := dialRaw(t, fe0, mqtt.V5)
		cp := v5Connect("limit-topic-will", "", "")
		cp.Will = &mqtt.Will{Topic: deep, Payload: []byte("x")}
		if got := w.connack(cp); got != mqtt.TopicNameInvalid {
			t.Errorf("will topic %q: CONNACK 0x%02x, want 0x90", deep, byte(got))
		}
		expectLimitHit(t, regs[0], "topic", before)
	})

	t.Run("packet size", func(t *testing.T) {
		before := limitHits(t, regs[0], "packet_size")
		rc := dialRaw(t, fe0, mqtt.V5)
		rc.connect("limit-packet")
		rc.send(&mqtt.Publish{QoS: 0, Topic: "big", Payload: make([]byte, 100<<10)})
		rc.expectDisconnect(mqtt.PacketTooLarge)
		expectLimitHit(t, regs[0], "packet_size", before)
	})

	t.Run("over TLS", func(t *testing.T) {
		// The same limits on the TLS listener: a packet over the maximum,
		// a topic over the limit, and a connection that never completes
		// its handshake (closed after the CONNECT timeout, counted).
		before := limitHits(t, regs[0], "packet_size")
		rc := dialRawTLS(t, tls0, mqtt.V5, ca.clientTLS())
		rc.connect("limit-tls-packet")
		rc.send(&mqtt.Publish{QoS: 0, Topic: "big", Payload: make([]byte, 100<<10)})
		rc.expectDisconnect(mqtt.PacketTooLarge)
		expectLimitHit(t, regs[0], "packet_size", before)

		rc = dialRawTLS(t, tls0, mqtt.V5, ca.clientTLS())
		rc.connect("limit-tls-topic")
		if got := rc.subscribe(1, "a/b/c/d/e"); got[0] != mqtt.TopicFilterInvalid {
			t.Errorf("5 levels over TLS: SUBACK 0x%02x, want 0x8F", byte(got[0]))
		}

		before = limitHits(t, regs[0], "connect_timeout")
		raw := dialRaw(t, tls0, mqtt.V5) // TCP only: no ClientHello
		raw.expectClosed()
		expectLimitHit(t, regs[0], "connect_timeout", before)
	})

	t.Run("inflight", func(t *testing.T) {
		// Receive Maximum 5: a 5.0 client with more unacknowledged QoS 1
		// PUBLISHes is disconnected with 0x93 [MQTT-3.3.4-7]. The PUBLISHes
		// go out in one write, so the reader sees them all long before
		// the first Kafka append completes.
		before := limitHits(t, regs[0], "inflight")
		rc := dialRaw(t, fe0, mqtt.V5)
		rc.connect("limit-inflight")
		var buf []byte
		for i := 1; i <= 50; i++ {
			b, err := mqtt.AppendPacket(nil, &mqtt.Publish{PacketID: uint16(i), QoS: 1, Topic: "inflight", Payload: []byte("x")}, mqtt.V5)
			if err != nil {
				t.Fatal(err)
			}
			buf = append(buf, b...)
		}
		rc.write(buf)
		for {
			p, err := rc.read()
			if err != nil {
				t.Fatalf("read: %v, want DISCONNECT 0x93", err)
			}
			if d, ok := p.(*mqtt.Disconnect); ok {
				if d.ReasonCode != mqtt.ReceiveMaximumExceeded {
					t.Fatalf("DISCONNECT 0x%02x, want 0x93", byte(d.ReasonCode))
				}
				break
			}
		}
		expectLimitHit(t, regs[0], "inflight", before)
	})

	t.Run("publish rate", func(t *testing.T) {
		// 20 PUBLISHes per second with a burst of 20: 81 PUBLISHes sent at
		// once take at least 3 s to be read, and every one is delivered.
		before := limitHits(t, regs[0], "publish_rate")
		sub, _ := c.dial(0, "limit-rate-sub", true)
		sub.subscribe("rate/#", 1)
		rc := dialRaw(t, fe0, mqtt.V5)
		rc.connect("limit-rate-pub")
		start := time.Now()
		var buf []byte
		const n = 80
		for i := 0; i < n; i++ {
			b, _ := mqtt.AppendPacket(nil, &mqtt.Publish{Topic: "rate/x", Payload: []byte(fmt.Sprint(i))}, mqtt.V5)
			buf = append(buf, b...)
		}
		rc.write(buf)
		if got := rc.publish1(1, "rate/x", "last"); got != mqtt.Success {
			t.Fatalf("PUBACK 0x%02x", byte(got))
		}
		// A lower bound only: a slow machine makes it longer, never shorter.
		if el := time.Since(start); el < 2500*time.Millisecond {
			t.Errorf("%d PUBLISHes over a 20/s limit were read in %v, want at least 3 s", n+1, el)
		}
		got := sub.waitMessages(n + 1)
		if last := got[len(got)-1]; last.Payload != "last" || len(got) != n+1 {
			t.Errorf("subscriber got %d messages ending with %q, want %d ending with \"last\"", len(got), last.Payload, n+1)
		}
		expectLimitHit(t, regs[0], "publish_rate", before)
	})

	t.Run("connect timeout", func(t *testing.T) {
		before := limitHits(t, regs[0], "connect_timeout")
		idle := dialRaw(t, fe0, mqtt.V5)
		// A slowloris: the start of a CONNECT, then nothing.
		slow := dialRaw(t, fe0, mqtt.V5)
		slow.write([]byte{0x10, 0x20, 0x00, 0x04, 'M'})
		idle.expectClosed()
		slow.expectClosed()
		expectLimitHit(t, regs[0], "connect_timeout", before)
		if n := limitHits(t, regs[0], "connect_timeout"); n < before+2 {
			t.Errorf("connect timeouts counted %v, want %v", n, before+2)
		}
	})

	t.Run("connections per frontend", func(t *testing.T) {
		before := limitHits(t, regs[1], "connections")
		var held []net.Conn
		for i := 0; i < 5; i++ {
			nc, err := net.Dial("tcp", fe1)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, nc)
		}
		// Accepted by the server, not only by the kernel's backlog.
		deadline := time.Now().Add(waitFor)
		for metricValue(t, regs[1], "tidemark_frontend_connections", nil) < 5 {
			if time.Now().After(deadline) {
				t.Fatal("the held connections were not accepted")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The sixth is closed at accept, before it can send anything.
		over := dialRaw(t, fe1, mqtt.V5)
		over.expectClosed()
		expectLimitHit(t, regs[1], "connections", before)
		for _, nc := range held {
			nc.Close()
		}
		// The slots come back when the connections end.
		deadline = time.Now().Add(waitFor)
		for {
			rc := dialRaw(t, fe1, mqtt.V5)
			rc.send(v5Connect("limit-conn-after", "", ""))
			if p, err := rc.read(); err == nil {
				if ack, ok := p.(*mqtt.Connack); ok && ack.ReasonCode == mqtt.Success {
					rc.send(&mqtt.Disconnect{})
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no connection accepted after the held ones closed")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("connect rate", func(t *testing.T) {
		// One CONNECT per 2 s with a burst of one: of four at once, the
		// second and later are refused with 0x9F (3.1.1: 0x03).
		time.Sleep(2500 * time.Millisecond) // let the bucket fill
		before := limitHits(t, regs[1], "connect_rate")
		var codes []mqtt.ReasonCode
		for i := 0; i < 3; i++ {
			rc := dialRaw(t, fe1, mqtt.V5)
			code := rc.connack(v5Connect(fmt.Sprintf("limit-rate-%d", i), "", ""))
			codes = append(codes, code)
			if code == mqtt.Success {
				rc.send(&mqtt.Disconnect{})
			}
		}
		rc3 := dialRaw(t, fe1, mqtt.V311)
		code3 := rc3.connack(&mqtt.Connect{ClientID: "limit-rate-3", CleanStart: true, KeepAlive: 30})
		if codes[1] != mqtt.ConnectionRateExceeded || codes[2] != mqtt.ConnectionRateExceeded {
			t.Errorf("5.0 CONNACKs %v, want 0x9F for the second and third", codes)
		}
		if code3 != mqtt.ServerUnavailable {
			t.Errorf("3.1.1 CONNACK 0x%02x, want 0x03", byte(code3))
		}
		c.life.waitSteps("limit-rate-3", step{events.ClientConnectRejected, "connack=3"})
		expectLimitHit(t, regs[1], "connect_rate", before)
	})

	t.Run("pending messages of a slow consumer", func(t *testing.T) {
		before := limitHits(t, regs[2], "pending")
		slow := dialRaw(t, c.addr(2), mqtt.V5)
		slow.connect("limit-slow")
		slow.subscribe(1, "flood/#")
		// The slow consumer stops reading; 2 MiB of messages fill the
		// socket buffers, then its 20 pending slots.
		pub := dialRaw(t, c.addr(2), mqtt.V5)
		pub.connect("limit-slow-pub")
		payload := make([]byte, 32<<10)
		for i := 0; i < 400; i++ {
			pub.send(&mqtt.Publish{Topic: "flood/x", Payload: payload})
		}
		pub.publish1(1, "flood/x", "end")
		deadline := time.Now().Add(waitFor)
		for limitHits(t, regs[2], "pending") <= before {
			if time.Now().After(deadline) {
				t.Fatal("the slow consumer was not closed")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
