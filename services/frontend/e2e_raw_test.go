package frontend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/services/frontend/wsnet"
)

func (c *pipeClient) expectPublish() *mqtt.Publish {
	c.t.Helper()
	p := c.next(30 * time.Second)
	pub, ok := p.(*mqtt.Publish)
	if !ok {
		c.t.Fatalf("got %v, want PUBLISH", p)
	}
	return pub
}

func (c *pipeClient) quiet(within time.Duration) {
	c.t.Helper()
	select {
	case p, ok := <-c.pkts:
		if ok {
			c.t.Fatalf("unexpected %s: %+v", p.Type(), p)
		}
	case <-time.After(within):
	}
}

// TestIntegrationQoS2ExactlyOnce: a QoS 2 message sent to a persistent
// session and not acknowledged is resent after reconnecting with DUP and
// the same packet id; after PUBREC only PUBREL is resent; after PUBCOMP
// nothing.
func TestIntegrationQoS2ExactlyOnce(t *testing.T) {
	r := resendQoS2(t, newStack(t), "q2-", "once")
	a, b, id, exp, first, c2 := r.a, r.b, r.id, r.exp, r.first, r.c2
	c2.send(&mqtt.Disconnect{})
	c2.closed(30 * time.Second)

	c3 := dialTCP(t, addr(a, "mqtt"), mqtt.V5)
	c3.connect(&mqtt.Connect{ClientID: id, Properties: exp})
	if p := c3.next(30 * time.Second); !isPubrel(p, first.PacketID) {
		t.Fatalf("after PUBREC: want only PUBREL %d, got %#v", first.PacketID, p)
	}
	c3.send(&mqtt.Pubcomp{PacketID: first.PacketID})
	c3.send(&mqtt.Disconnect{})
	c3.closed(30 * time.Second)

	// The message must never come again. A PUBREL for the completed id
	// may (the session keeps the id until its cursor passes the message);
	// answering it is harmless.
	c4 := dialTCP(t, addr(b, "mqtt"), mqtt.V5)
	c4.connect(&mqtt.Connect{ClientID: id, Properties: exp})
	deadline := time.After(time.Second)
	for {
		select {
		case p, ok := <-c4.pkts:
			if !ok {
				t.Fatal("connection closed")
			}
			if !isPubrel(p, first.PacketID) {
				t.Fatalf("after PUBCOMP: unexpected %s: %+v", p.Type(), p)
			}
			c4.send(&mqtt.Pubcomp{PacketID: first.PacketID})
		case <-deadline:
			return
		}
	}
}

// TestIntegrationShutdown: draining sends MQTT 5 clients DISCONNECT 0x8B
// and closes 3.1.1 connections.
func TestIntegrationShutdown(t *testing.T) {
	st := newStack(t)
	fe, stop := st.frontendWith("fe", nil)
	c5 := dialTCP(t, addr(fe, "mqtt"), mqtt.V5)
	c5.connect(&mqtt.Connect{ClientID: "v5-" + t.Name(), CleanStart: true})
	c4 := dialTCP(t, addr(fe, "mqtt"), mqtt.V311)
	c4.connect(&mqtt.Connect{ClientID: "v4-" + t.Name(), CleanStart: true})
	go stop()
	d, ok := c5.next(30 * time.Second).(*mqtt.Disconnect)
	if !ok || d.ReasonCode != mqtt.ServerShuttingDown {
		t.Fatalf("want DISCONNECT 0x8B, got %#v", d)
	}
	c5.closed(30 * time.Second)
	c4.closed(30 * time.Second)
}

func TestIntegrationWebSocket(t *testing.T) {
	st := newStack(t)
	fe := st.frontend("fe")
	url := "ws://" + addr(fe, "ws") + wsnet.Path

	t.Run("no subprotocol refused", func(t *testing.T) {
		_, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			t.Fatal("handshake without the mqtt subprotocol succeeded")
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("want 400, got %v", resp)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{wsnet.Subprotocol}}
		ws, _, err := d.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c := newPacketClient(t, wsnet.NewConn(ws), mqtt.V311, nil)
		if ack := c.connect(&mqtt.Connect{ClientID: "ws-" + t.Name(), CleanStart: true}); ack.ReasonCode != mqtt.Success {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		tp := uniqueTopic(t)
		subscribe(t, c, 1, mqtt.Subscription{Filter: tp, QoS: 1})
		c.send(&mqtt.Publish{Topic: tp, QoS: 1, PacketID: 2, Payload: []byte("over ws")})
		var got *mqtt.Publish
		for got == nil {
			switch p := c.next(30 * time.Second).(type) {
			case *mqtt.Puback:
			case *mqtt.Publish:
				got = p
			default:
				t.Fatalf("unexpected %v", p)
			}
		}
		if string(got.Payload) != "over ws" {
			t.Fatalf("got %q", got.Payload)
		}
	})
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns the
// file names and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tidemark test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestIntegrationTLS(t *testing.T) {
	st := newStack(t)
	certFile, keyFile, pool := selfSigned(t)
	fe, _ := st.frontendWith("fe", func(c *Config) {
		c.TLSAddr, c.WSSAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", "127.0.0.1:0", certFile, keyFile
	})
	t.Run("tls", func(t *testing.T) {
		nc, err := tls.Dial("tcp", addr(fe, "tls"), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c := newPacketClient(t, nc, mqtt.V5, nil)
		if ack := c.connect(&mqtt.Connect{ClientID: "tls-" + t.Name(), CleanStart: true}); ack.ReasonCode != mqtt.Success {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
	})
	t.Run("wss", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{wsnet.Subprotocol}, TLSClientConfig: &tls.Config{RootCAs: pool}}
		ws, _, err := d.Dial("wss://"+addr(fe, "wss")+wsnet.Path, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c := newPacketClient(t, wsnet.NewConn(ws), mqtt.V5, nil)
		if ack := c.connect(&mqtt.Connect{ClientID: "wss-" + t.Name(), CleanStart: true}); ack.ReasonCode != mqtt.Success {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
	})
}

// qos2Resend is where resendQoS2 leaves a QoS 2 delivery.
type qos2Resend struct {
	a, b   *Server
	tp, id string
	exp    mqtt.Properties
	first  *mqtt.Publish // the delivery the first connection dropped
	c2     *pipeClient   // the resumed connection, PUBREL just received
}

// resendQoS2 delivers a QoS 2 message published on frontend b to a
// persistent subscriber on frontend a, which drops the connection before
// PUBREC; the session resumed on b must resend it with DUP and the same
// packet id, and answer PUBREC with PUBREL.
func resendQoS2(t *testing.T, st *stack, prefix, payload string) *qos2Resend {
	t.Helper()
	r := &qos2Resend{a: st.frontend("fe-a"), b: st.frontend("fe-b"), tp: uniqueTopic(t), id: prefix + t.Name(),
		exp: mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(600))}}

	c := dialTCP(t, addr(r.a, "mqtt"), mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: r.id, CleanStart: true, Properties: r.exp})
	subscribe(t, c, 1, mqtt.Subscription{Filter: r.tp, QoS: 2})

	pub := dialTCP(t, addr(r.b, "mqtt"), mqtt.V5)
	pub.connect(&mqtt.Connect{ClientID: "pub-" + r.id, CleanStart: true})
	pub.send(&mqtt.Publish{Topic: r.tp, QoS: 2, PacketID: 1, Payload: []byte(payload)})
	if _, ok := pub.next(30 * time.Second).(*mqtt.Pubrec); !ok {
		t.Fatal("publisher got no PUBREC")
	}
	pub.send(&mqtt.Pubrel{PacketID: 1})

	r.first = c.expectPublish()
	if r.first.QoS != 2 || r.first.Dup {
		t.Fatalf("first delivery qos %d dup %v", r.first.QoS, r.first.Dup)
	}
	c.nc.Close() // no PUBREC

	r.c2 = dialTCP(t, addr(r.b, "mqtt"), mqtt.V5)
	if ack := r.c2.connect(&mqtt.Connect{ClientID: r.id, Properties: r.exp}); !ack.SessionPresent {
		t.Fatal("no Session Present")
	}
	again := r.c2.expectPublish()
	if !again.Dup || again.PacketID != r.first.PacketID || string(again.Payload) != payload {
		t.Fatalf("resend: dup %v pid %d (want %d) payload %q", again.Dup, again.PacketID, r.first.PacketID, again.Payload)
	}
	r.c2.send(&mqtt.Pubrec{PacketID: again.PacketID})
	if p := r.c2.next(30 * time.Second); !isPubrel(p, r.first.PacketID) {
		t.Fatalf("want PUBREL %d, got %#v", r.first.PacketID, p)
	}
	return r
}

func isPubrel(p mqtt.Packet, pid uint16) bool {
	rel, ok := p.(*mqtt.Pubrel)
	return ok && rel.PacketID == pid
}

// TestIntegrationConnectRace: two CONNECTs with one ClientID racing on two
// frontends end with exactly one connection, the newer epoch's.
func TestIntegrationConnectRace(t *testing.T) {
	st := newStack(t)
	fes := []*Server{st.frontend("fe-a"), st.frontend("fe-b")}
	for round := 0; round < 3; round++ {
		id := fmt.Sprintf("race-%s-%d", t.Name(), round)
		var wg sync.WaitGroup
		for _, fe := range fes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialTCP(t, addr(fe, "mqtt"), mqtt.V5)
				cp := &mqtt.Connect{Version: mqtt.V5, ClientID: id, Properties: mqtt.Properties{SessionExpiry: mqtt.Ptr(uint32(60))}}
				b, _ := mqtt.AppendPacket(nil, cp, mqtt.V5)
				_, _ = c.nc.Write(b)
			}()
		}
		wg.Wait()
		connected := func() (n int) {
			for _, fe := range fes {
				fe.mu.Lock()
				if c := fe.clients[id]; c != nil && c.connacked.Load() {
					select {
					case <-c.dead:
					default:
						n++
					}
				}
				fe.mu.Unlock()
			}
			return n
		}
		waitFor(t, 30*time.Second, "one connection left", func() bool { return connected() == 1 })
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if n := connected(); n != 1 {
				t.Fatalf("round %d: %d live connections for one ClientID", round, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
