package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// testCA is a throwaway certificate authority for TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

var serial int64 = 100

// issue signs a leaf certificate for tmpl's subject and SANs.
func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// clientTLS is the client side: trusts the CA, presents certs if any.
func (ca *testCA) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12}
}

// authSetup is a two-frontend cluster sharing one password file and one
// ACL file: frontend 0 serves TCP and TLS with passwords, frontend 1 serves
// TLS only to clients with a certificate of the CA, whose CN is the user
// name (SAN DNS with certIdentity "dns").
type authSetup struct {
	c           *cluster
	dir         string
	passwd, acl string
	ca          *testCA
	regs        []*prometheus.Registry
	tlsAddrs    []string
	plain       string
}

const testACL = `# anonymous clients: none of these tests lets them in
user alice
topic readwrite home/#
topic deny home/secret/#
topic read public/+
topic write sensors/+/temp
topic read $SYS/broker/#

user bob
topic read #
topic write bob/#

user admin
topic readwrite #

pattern readwrite clients/%c/#
pattern read users/%u/inbox
`

// writePasswords writes a Mosquitto password file (PBKDF2-SHA512, as
// mosquitto_passwd 2.x writes it) atomically, as a Secret update would.
func writePasswords(t *testing.T, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for u, pw := range users {
		h, err := auth.NewHash(auth.SHA512PBKDF2, []byte(pw), 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	writeAtomic(t, path, b.String())
}

func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newAuthSetup(t *testing.T, certIdentity string) *authSetup {
	t.Helper()
	return newAuthSetupWith(t, certIdentity, nil, nil)
}

// newAuthSetupWith is newAuthSetup with more users and a last word on
// each frontend's configuration.
func newAuthSetupWith(t *testing.T, certIdentity string, users map[string]string, tune func(int, *frontend.Config)) *authSetup {
	t.Helper()
	a := &authSetup{dir: t.TempDir(), ca: newTestCA(t)}
	a.passwd = filepath.Join(a.dir, "passwd")
	a.acl = filepath.Join(a.dir, "acl")
	all := map[string]string{"alice": "alice-pw", "bob": "bob-pw", "admin": "admin-pw"}
	for u, pw := range users {
		all[u] = pw
	}
	writePasswords(t, a.passwd, all)
	writeAtomic(t, a.acl, testACL)
	_, certPEM, keyPEM := a.ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "server"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, x509.ExtKeyUsageServerAuth)
	for name, data := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM, "ca.crt": a.ca.pem} {
		if err := os.WriteFile(filepath.Join(a.dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.regs = []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	a.c = newCluster(t, options{frontends: 2, tune: func(i int, cfg *frontend.Config) {
		opts := frontend.AuthOptions{PasswordFile: a.passwd, ACLFile: a.acl, ReloadInterval: 100 * time.Millisecond}
		cfg.TLSAddr = "127.0.0.1:0"
		cfg.TLSCert, cfg.TLSKey = filepath.Join(a.dir, "server.crt"), filepath.Join(a.dir, "server.key")
		if i == 1 {
			opts.CertIdentity = certIdentity
			cfg.TLSClientCA = filepath.Join(a.dir, "ca.crt")
			cfg.MQTTAddr = ""
		}
		cfg.Registry = a.regs[i]
		if tune != nil {
			tune(i, cfg)
		}
		authz, err := frontend.NewAuthorizer(ctx, cfg.Logger, opts)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth = authz
	}})
	a.plain = a.c.addr(0)
	for _, f := range a.c.fes {
		a.tlsAddrs = append(a.tlsAddrs, f.svc.Addr("tls").String())
	}
	return a
}

// dialRawTLS is dialRaw over TLS.
func dialRawTLS(t *testing.T, addr string, v mqtt.Version, cfg *tls.Config) *rawConn {
	t.Helper()
	d := &net.Dialer{Timeout: waitFor}
	nc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial tls %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, r: mqtt.NewReader(nc, mqtt.MaxRemainingLength), v: v}
}

// connack sends cp and returns the server's CONNACK code (the 3.1.1
// return code as a ReasonCode value for 3.1.1).
func (c *rawConn) connack(cp *mqtt.Connect) mqtt.ReasonCode {
	c.t.Helper()
	c.send(cp)
	p, err := c.read()
	if err != nil {
		c.t.Fatalf("%s: read CONNACK: %v", cp.ClientID, err)
	}
	ack, ok := p.(*mqtt.Connack)
	if !ok {
		c.t.Fatalf("%s: got %T, want CONNACK", cp.ClientID, p)
	}
	return ack.ReasonCode
}

// subscribe sends one SUBSCRIBE and returns the SUBACK codes.
func (c *rawConn) subscribe(id uint16, filters ...string) []mqtt.ReasonCode {
	c.t.Helper()
	s := &mqtt.Subscribe{PacketID: id}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, mqtt.Subscription{Filter: f, QoS: 1})
	}
	c.send(s)
	for {
		p, err := c.read()
		if err != nil {
			c.t.Fatalf("read SUBACK: %v", err)
		}
		if a, ok := p.(*mqtt.Suback); ok && a.PacketID == id {
			return a.ReasonCodes
		}
	}
}

// publish1 sends a QoS 1 PUBLISH and returns the PUBACK code.
func (c *rawConn) publish1(id uint16, topic, payload string) mqtt.ReasonCode {
	c.t.Helper()
	c.send(&mqtt.Publish{PacketID: id, QoS: 1, Topic: topic, Payload: []byte(payload)})
	for {
		p, err := c.read()
		if err != nil {
			c.t.Fatalf("read PUBACK for %s: %v", topic, err)
		}
		if a, ok := p.(*mqtt.Puback); ok && a.PacketID == id {
			return a.ReasonCode
		}
	}
}

func v5Connect(id, user, pw string) *mqtt.Connect {
	cp := &mqtt.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.UsernameFlag, cp.Username = true, user
	}
	if pw != "" {
		cp.PasswordFlag, cp.Password = true, []byte(pw)
	}
	return cp
}

// pahoConnect connects a 3.1.1 paho client and returns the CONNACK return
// code (0 when accepted) and the client.
func pahoConnect(t *testing.T, broker, id, user, pw string, tc *tls.Config) (byte, paho.Client) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).SetConnectTimeout(waitFor).
		SetUsername(user).SetPassword(pw)
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	cl := paho.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("%s: connect timed out", id)
	}
	t.Cleanup(func() {
		if cl.IsConnectionOpen() {
			cl.Disconnect(100)
		}
	})
	return tok.(*paho.ConnectToken).ReturnCode(), cl
}

// metricValue sums the samples of the counter name whose labels include
// every pair of want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestPasswordAuthentication: over TCP and TLS, with paho (3.1.1) and a
// raw MQTT 5 client, the right password is let in; a wrong password and an
// unknown user get the same refusal (0x04 / 0x86), so a refusal never
// tells whether the user exists; no user name at all is 0x05 / 0x87, as
// anonymous access is not configured. Each refusal is counted and
// announced as a connect_rejected event with the code sent.
func TestPasswordAuthentication(t *testing.T) {
	a := newAuthSetup(t, "cn")
	tc := a.ca.clientTLS()
	cases := []struct {
		name, user, pw string
		v311           byte
		v5             mqtt.ReasonCode
	}{
		{"right password", "alice", "alice-pw", 0x00, mqtt.Success},
		{"wrong password", "alice", "bob-pw", 0x04, mqtt.BadUsernameOrPassword},
		{"unknown user", "mallory", "alice-pw", 0x04, mqtt.BadUsernameOrPassword},
		{"user without password", "alice", "", 0x04, mqtt.BadUsernameOrPassword},
		{"anonymous", "", "", 0x05, mqtt.NotAuthorized},
	}
	for _, transport := range []string{"tcp", "tls"} {
		for i, tt := range cases {
			t.Run(transport+"/"+tt.name, func(t *testing.T) {
				id := fmt.Sprintf("pw-%s-%d", transport, i)
				broker, cfg := "tcp://"+a.plain, (*tls.Config)(nil)
				if transport == "tls" {
					broker, cfg = "ssl://"+a.tlsAddrs[0], tc
				}
				code, cl := pahoConnect(t, broker, id+"-v3", tt.user, tt.pw, cfg)
				if code != tt.v311 {
					t.Errorf("3.1.1 CONNACK 0x%02x, want 0x%02x", code, tt.v311)
				}
				if code == 0 {
					cl.Disconnect(100)
				}
				var rc *rawConn
				if transport == "tls" {
					rc = dialRawTLS(t, a.tlsAddrs[0], mqtt.V5, tc)
				} else {
					rc = dialRaw(t, a.plain, mqtt.V5)
				}
				if got := rc.connack(v5Connect(id+"-v5", tt.user, tt.pw)); got != tt.v5 {
					t.Errorf("5.0 CONNACK 0x%02x, want 0x%02x", byte(got), byte(tt.v5))
				}
				if tt.v5 != mqtt.Success {
					rc.expectClosed()
					ev := a.c.life.waitSteps(id+"-v5", step{events.ClientConnectRejected, fmt.Sprintf("connack=%d", tt.v5)})
					if d := ev[0].Data.(*events.ConnectRejected); d.Username != tt.user {
						t.Errorf("event user name %q, want %q", d.Username, tt.user)
					}
					a.c.life.waitSteps(id+"-v3", step{events.ClientConnectRejected, fmt.Sprintf("connack=%d", tt.v311)})
				}
			})
		}
	}
	if n := metricValue(t, a.regs[0], "tidemark_frontend_connects_total", map[string]string{"result": mqtt.BadUsernameOrPassword.Error()}); n != 12 {
		t.Errorf("connects refused for bad credentials counted %v times, want 12", n)
	}
}

// TestCertificateIdentity: on the listener that requires client
// certificates, the user name comes from the certificate (its CN, or a DNS
// SAN), whatever the CONNECT claims, and the ACL applies to that name; a
// client without a certificate does not get past the TLS handshake.
func TestCertificateIdentity(t *testing.T) {
	for _, id := range []string{"cn", "dns"} {
		t.Run(id, func(t *testing.T) {
			a := newAuthSetup(t, id)
			tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}
			if id == "dns" {
				tmpl = &x509.Certificate{Subject: pkix.Name{CommonName: "ignored"}, DNSNames: []string{"alice"}}
			}
			cert, _, _ := a.ca.issue(t, tmpl, x509.ExtKeyUsageClientAuth)
			tc := a.ca.clientTLS(cert)

			// The CONNECT claims to be admin, with no password: the
			// certificate says alice, and alice's rules apply.
			rc := dialRawTLS(t, a.tlsAddrs[1], mqtt.V5, tc)
			if got := rc.connack(v5Connect("cert-"+id, "admin", "")); got != mqtt.Success {
				t.Fatalf("CONNACK 0x%02x, want success", byte(got))
			}
			got := rc.subscribe(1, "home/kitchen", "bob/x", "users/alice/inbox")
			want := []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.NotAuthorized, mqtt.GrantedQoS1}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("SUBACK %v, want %v (alice's rules)", got, want)
			}
			ev := a.c.life.waitSteps("cert-"+id, step{events.SessionCreated, ""}, step{events.ClientConnected, "present=false"})
			if d := ev[1].Data.(*events.Connected); d.Username != "alice" {
				t.Errorf("connected event user name %q, want the certificate's alice", d.Username)
			}

			// paho 3.1.1 with the certificate, no user name at all.
			code, cl := pahoConnect(t, "ssl://"+a.tlsAddrs[1], "cert-paho-"+id, "", "", tc)
			if code != 0 {
				t.Fatalf("paho with certificate: CONNACK 0x%02x", code)
			}
			cl.Disconnect(100)

			// No certificate: the handshake fails, no CONNECT is read.
			opts := paho.NewClientOptions().AddBroker("ssl://" + a.tlsAddrs[1]).SetClientID("cert-none-" + id).
				SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetTLSConfig(a.ca.clientTLS())
			bare := paho.NewClient(opts)
			if tok := bare.Connect(); tok.WaitTimeout(waitFor) && tok.Error() == nil {
				bare.Disconnect(100)
				t.Fatal("a client without a certificate was let in")
			}
		})
	}
}

// TestAuthFilesReload: the password and ACL files are replaced the way a
// Kubernetes Secret update replaces them (a new file renamed over the old)
// while the frontends run; both frontends pick the change up without a
// restart.
func TestAuthFilesReload(t *testing.T) {
	a := newAuthSetup(t, "cn")
	if code, _ := pahoConnect(t, "tcp://"+a.plain, "reload-1", "carol", "carol-pw", nil); code != 0x04 {
		t.Fatalf("carol before she exists: CONNACK 0x%02x, want 0x04", code)
	}
	rc := dialRaw(t, a.plain, mqtt.V5)
	if got := rc.connack(v5Connect("reload-alice", "alice", "alice-pw")); got != mqtt.Success {
		t.Fatalf("alice: CONNACK 0x%02x", byte(got))
	}
	if got := rc.subscribe(1, "garden/roses"); got[0] != mqtt.NotAuthorized {
		t.Fatalf("garden before the ACL change: SUBACK 0x%02x, want 0x87", byte(got[0]))
	}
	// alice by certificate on the other frontend, which reads the same files.
	cert, _, _ := a.ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}, x509.ExtKeyUsageClientAuth)
	rc1 := dialRawTLS(t, a.tlsAddrs[1], mqtt.V5, a.ca.clientTLS(cert))
	if got := rc1.connack(v5Connect("reload-alice-cert", "", "")); got != mqtt.Success {
		t.Fatalf("alice by certificate: CONNACK 0x%02x", byte(got))
	}
	if got := rc1.subscribe(1, "garden/roses"); got[0] != mqtt.NotAuthorized {
		t.Fatalf("garden on frontend 1 before the ACL change: SUBACK 0x%02x, want 0x87", byte(got[0]))
	}

	writePasswords(t, a.passwd, map[string]string{"alice": "alice-pw", "carol": "carol-pw"})
	writeAtomic(t, a.acl, strings.Replace(testACL, "user alice\n", "user alice\ntopic read garden/#\n", 1))

	deadline := time.Now().Add(waitFor)
	for i := 0; ; i++ {
		code, cl := pahoConnect(t, "tcp://"+a.plain, fmt.Sprintf("reload-carol-%d", i), "carol", "carol-pw", nil)
		if code == 0 {
			cl.Disconnect(100)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("carol still refused (0x%02x) %v after the password file changed", code, waitFor)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, conn := range []*rawConn{rc, rc1} {
		for id := uint16(2); ; id++ {
			if got := conn.subscribe(id, "garden/roses"); got[0] == mqtt.GrantedQoS1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("garden still refused on frontend %d %v after the ACL file changed", i, waitFor)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// bob was removed from the password file: refused from now on.
	if code, _ := pahoConnect(t, "tcp://"+a.plain, "reload-bob", "bob", "bob-pw", nil); code != 0x04 {
		t.Errorf("bob after removal: CONNACK 0x%02x, want 0x04", code)
	}
}

// readPublishes reads from c until stop returns true for the topics seen
// so far or waitFor passes; it acknowledges QoS 1 deliveries.
func (c *rawConn) readPublishes(stop func(seen map[string]int) bool) map[string]int {
	c.t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(waitFor)
	for !stop(seen) {
		_ = c.nc.SetReadDeadline(deadline)
		p, err := c.r.ReadPacket(c.v)
		if err != nil {
			c.t.Fatalf("reading deliveries: %v (seen %v)", err, seen)
		}
		if pub, ok := p.(*mqtt.Publish); ok {
			seen[pub.Topic]++
			if pub.QoS == 1 {
				c.send(&mqtt.Puback{PacketID: pub.PacketID})
			}
		}
	}
	return seen
}

// quiet reads for d and returns the topics delivered meanwhile.
func (c *rawConn) quiet(d time.Duration) map[string]int {
	c.t.Helper()
	seen := map[string]int{}
	end := time.Now().Add(d)
	for {
		_ = c.nc.SetReadDeadline(end)
		p, err := c.r.ReadPacket(c.v)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return seen
			}
			c.t.Fatalf("reading: %v", err)
		}
		if pub, ok := p.(*mqtt.Publish); ok {
			seen[pub.Topic]++
			if pub.QoS == 1 {
				c.send(&mqtt.Puback{PacketID: pub.PacketID})
			}
		}
	}
}

// TestACL is the ACL table through real connections: wildcards in rules
// and in filters, deny rules, $-topics, shared subscriptions, %c and %u
// patterns, for SUBSCRIBE (per filter: 0x87 in 5.0, 0x80 in 3.1.1),
// PUBLISH (5.0: PUBACK 0x87; 3.1.1: acknowledged, dropped and counted),
// will messages (refused at CONNECT) and retained and live delivery on a
// subscription a deny rule covers in part.
func TestACL(t *testing.T) {
	a := newAuthSetup(t, "cn")
	reg := a.regs[0]
	admin := dialRaw(t, a.plain, mqtt.V5)
	if got := admin.connack(v5Connect("acl-admin", "admin", "admin-pw")); got != mqtt.Success {
		t.Fatalf("admin: CONNACK 0x%02x", byte(got))
	}
	if got := admin.subscribe(1, "#"); got[0] != mqtt.GrantedQoS1 {
		t.Fatalf("admin subscribe #: 0x%02x", byte(got[0]))
	}
	// Retained messages, the secret before the other on the single
	// retained partition: once the second is delivered from the retained
	// copy, the first was loaded too.
	for i, tp := range []string{"home/secret/code", "home/kitchen/light", "public/news"} {
		admin.send(&mqtt.Publish{PacketID: uint16(100 + i), QoS: 1, Retain: true, Topic: tp, Payload: []byte("retained")})
	}
	admin.readPublishes(func(seen map[string]int) bool {
		return seen["home/secret/code"] > 0 && seen["home/kitchen/light"] > 0 && seen["public/news"] > 0
	})

	alice := dialRaw(t, a.plain, mqtt.V5)
	if got := alice.connack(v5Connect("acl-alice", "alice", "alice-pw")); got != mqtt.Success {
		t.Fatalf("alice: CONNACK 0x%02x", byte(got))
	}
	bob := dialRaw(t, a.plain, mqtt.V5)
	if got := bob.connack(v5Connect("acl-bob", "bob", "bob-pw")); got != mqtt.Success {
		t.Fatalf("bob: CONNACK 0x%02x", byte(got))
	}

	t.Run("subscribe", func(t *testing.T) {
		const ok, no = mqtt.GrantedQoS1, mqtt.NotAuthorized
		cases := []struct {
			who    *rawConn
			filter string
			want   mqtt.ReasonCode
		}{
			{alice, "home/kitchen", ok},            // readwrite home/#
			{alice, "home/+/light", ok},            // a wildcard filter inside a # rule
			{alice, "home/secret/code", no},        // deny wins
			{alice, "home/secret/#", no},           // deny covers the whole filter
			{alice, "public/news", ok},             // read public/+
			{alice, "public/+", ok},                // the rule's own wildcard
			{alice, "public/#", no},                // public/+ does not cover public/a/b
			{alice, "public/a/b", no},              // nor one level deeper
			{alice, "sensors/+/temp", no},          // write only
			{alice, "#", no},                       // nothing covers everything
			{alice, "$SYS/broker/uptime", ok},      // an explicit $SYS rule
			{alice, "$SYS/other", no},              // outside it
			{alice, "$share/g/home/+", ok},         // shared: judged on the inner filter
			{alice, "$share/g/private/x", no},      //
			{alice, "clients/acl-alice/cmd", ok},   // pattern %c
			{alice, "clients/acl-bob/cmd", no},     // someone else's %c
			{alice, "users/alice/inbox", ok},       // pattern %u
			{alice, "users/bob/inbox", no},         // someone else's %u
			{bob, "anything/at/all", ok},           // read #
			{bob, "#", ok},                         //
			{bob, "$SYS/broker/uptime", no},        // # does not reach $-topics
			{bob, "$share/g/#", ok},                //
			{bob, "$share/g/$SYS/broker/load", no}, // nor through a share
		}
		for i, tc := range cases {
			got := tc.who.subscribe(uint16(10+i), tc.filter)
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("subscribe %q: %v, want 0x%02x", tc.filter, got, byte(tc.want))
			}
		}
		// Several filters in one SUBSCRIBE are judged one by one.
		got := alice.subscribe(99, "home/x", "public/#", "users/alice/inbox")
		if want := []mqtt.ReasonCode{ok, no, ok}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("mixed SUBSCRIBE: %v, want %v", got, want)
		}
		// 3.1.1 has the single failure code 0x80.
		_, cl := pahoConnect(t, "tcp://"+a.plain, "acl-alice-v3", "alice", "alice-pw", nil)
		tok := cl.SubscribeMultiple(map[string]byte{"home/y": 1, "public/#": 1}, nil)
		if !tok.WaitTimeout(waitFor) {
			t.Fatal("3.1.1 SUBACK timed out")
		}
		res := tok.(*paho.SubscribeToken).Result()
		if res["home/y"] != 1 || res["public/#"] != 0x80 {
			t.Errorf("3.1.1 SUBACK %v, want home/y 1, public/# 0x80", res)
		}
	})
	if n := metricValue(t, reg, "tidemark_frontend_denied_total", map[string]string{"action": "subscribe"}); n < 13 {
		t.Errorf("denied subscriptions counted %v, want at least 13", n)
	}

	t.Run("publish 5.0", func(t *testing.T) {
		cases := []struct {
			topic string
			want  mqtt.ReasonCode
		}{
			{"home/kitchen", mqtt.Success},
			{"home/secret/x", mqtt.NotAuthorized},
			{"public/news", mqtt.NotAuthorized}, // read only
			{"sensors/k1/temp", mqtt.Success},   // write sensors/+/temp
			{"sensors/k1/humidity", mqtt.NotAuthorized},
			{"clients/acl-alice/status", mqtt.Success}, // pattern %c
			{"users/alice/inbox", mqtt.NotAuthorized},  // pattern read only
			{"$SYS/broker/uptime", mqtt.NotAuthorized}, // nobody publishes to $SYS
		}
		allowed := map[string]bool{}
		for i, tc := range cases {
			if got := alice.publish1(uint16(200+i), tc.topic, "from alice"); got != tc.want {
				t.Errorf("publish %q: PUBACK 0x%02x, want 0x%02x", tc.topic, byte(got), byte(tc.want))
			}
			if tc.want == mqtt.Success {
				allowed[tc.topic] = true
			}
		}
		seen := admin.readPublishes(func(seen map[string]int) bool {
			for tp := range allowed {
				if seen[tp] == 0 {
					return false
				}
			}
			return true
		})
		for tp, n := range admin.quiet(time.Second) {
			seen[tp] += n
		}
		for tp := range seen {
			if !allowed[tp] {
				t.Errorf("admin received %q, which alice may not publish", tp)
			}
		}
	})

	t.Run("publish 3.1.1", func(t *testing.T) {
		before := metricValue(t, reg, "tidemark_frontend_denied_total", map[string]string{"action": "publish"})
		_, cl := pahoConnect(t, "tcp://"+a.plain, "acl-alice-pub-v3", "alice", "alice-pw", nil)
		for _, tp := range []string{"public/news", "home/kitchen"} {
			tok := cl.Publish(tp, 1, false, "from alice 3.1.1")
			if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				t.Fatalf("3.1.1 publish %s not acknowledged: %v", tp, tok.Error())
			}
		}
		seen := admin.readPublishes(func(seen map[string]int) bool { return seen["home/kitchen"] > 0 })
		for tp, n := range admin.quiet(time.Second) {
			seen[tp] += n
		}
		if seen["public/news"] > 0 {
			t.Error("a 3.1.1 PUBLISH the ACL refuses was delivered")
		}
		if after := metricValue(t, reg, "tidemark_frontend_denied_total", map[string]string{"action": "publish"}); after != before+1 {
			t.Errorf("denied publishes counted %v → %v, want one more", before, after)
		}
	})

	t.Run("will", func(t *testing.T) {
		for _, tc := range []struct {
			topic string
			want  mqtt.ReasonCode
		}{{"public/news", mqtt.NotAuthorized}, {"$SYS/broker/x", mqtt.NotAuthorized}, {"home/will", mqtt.Success}} {
			rc := dialRaw(t, a.plain, mqtt.V5)
			cp := v5Connect("acl-will-"+strings.ReplaceAll(tc.topic, "/", "-"), "alice", "alice-pw")
			cp.Will = &mqtt.Will{Topic: tc.topic, Payload: []byte("gone"), QoS: 1}
			if got := rc.connack(cp); got != tc.want {
				t.Errorf("will on %q: CONNACK 0x%02x, want 0x%02x", tc.topic, byte(got), byte(tc.want))
			}
			if tc.want != mqtt.Success {
				a.c.life.waitSteps(cp.ClientID, step{events.ClientConnectRejected, fmt.Sprintf("connack=%d", tc.want)})
			}
		}
		// 3.1.1: return code 0x05.
		opts := paho.NewClientOptions().AddBroker("tcp://"+a.plain).SetClientID("acl-will-v3").SetProtocolVersion(4).
			SetUsername("alice").SetPassword("alice-pw").SetAutoReconnect(false).SetConnectTimeout(waitFor).
			SetWill("public/news", "gone", 1, false)
		cl := paho.NewClient(opts)
		tok := cl.Connect()
		if !tok.WaitTimeout(waitFor) {
			t.Fatal("3.1.1 connect with a will timed out")
		}
		if code := tok.(*paho.ConnectToken).ReturnCode(); code != 0x05 {
			t.Errorf("3.1.1 will on public/news: CONNACK 0x%02x, want 0x05", code)
		}
	})

	t.Run("retained and live delivery on a filtered subscription", func(t *testing.T) {
		rc := dialRaw(t, a.plain, mqtt.V5)
		if got := rc.connack(v5Connect("acl-alice-read", "alice", "alice-pw")); got != mqtt.Success {
			t.Fatalf("CONNACK 0x%02x", byte(got))
		}
		// home/# is granted though a deny rule covers home/secret/#:
		// every message is checked before delivery.
		if got := rc.subscribe(1, "home/#"); got[0] != mqtt.GrantedQoS1 {
			t.Fatalf("home/#: 0x%02x", byte(got[0]))
		}
		seen := rc.readPublishes(func(seen map[string]int) bool { return seen["home/kitchen/light"] > 0 })
		if seen["home/secret/code"] > 0 {
			t.Error("a retained message under a deny rule was delivered")
		}
		admin.publish1(300, "home/secret/live", "live secret")
		admin.publish1(301, "home/hall/live", "live hall")
		seen = rc.readPublishes(func(seen map[string]int) bool { return seen["home/hall/live"] > 0 })
		for tp, n := range rc.quiet(time.Second) {
			seen[tp] += n
		}
		if seen["home/secret/live"] > 0 {
			t.Error("a live message under a deny rule was delivered")
		}
	})
}
