package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
	"github.com/tidemarkmq/tidemark/pkg/tlsfiles/tlstest"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// TestMessagePathOnSecuredStack runs the whole message path (a persistent
// subscriber, messages published while it is offline and replayed on the
// other frontend, live delivery, and the lifecycle events, each checked
// against its schema) against the SASL_SSL Kafka (SCRAM-SHA-512 over TLS),
// and with the session view on the three-node Redis Cluster and on the
// TLS Redis with an ACL user.
func TestMessagePathOnSecuredStack(t *testing.T) {
	cases := []struct {
		name  string
		kafka func(testing.TB) kafkalog.Cluster
		redis func(testing.TB) redis.UniversalClient
	}{
		{"sasl_ssl kafka", kafkatest.SASL, nil},
		{"redis cluster", nil, func(t testing.TB) redis.UniversalClient { return redistest.Connect(t, redistest.ClusterOptions(t)) }},
		{"tls redis", nil, func(t testing.TB) redis.UniversalClient { return redistest.Connect(t, redistest.TLSOptions(t)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt := options{}
			if tc.kafka != nil {
				opt.kafka = tc.kafka(t)
			}
			if tc.redis != nil {
				opt.redis = tc.redis(t)
			}
			messagePath(t, newCluster(t, opt))
		})
	}
}

// messagePath is the core path: subscribe, go offline, miss messages,
// come back elsewhere, get them in order, then live ones.
func messagePath(t *testing.T, c *cluster) {
	const id = "secured-sub"
	sub, _ := c.dial(0, id, false)
	sub.subscribe("secured/+", 1)
	sub.disconnect()
	subscribed := step{Type: events.SessionSubscribed}
	c.life.waitSteps(id, created, connectedFresh, subscribed, disconnectedNormal)

	var want []message
	for i := 0; i < 30; i++ {
		want = append(want, message{Topic: fmt.Sprintf("secured/%d", i%3), Payload: fmt.Sprintf("m-%02d", i), QoS: 1})
	}
	pub, _ := c.dial(1, "secured-pub", true)
	pub.publishAll(want)

	sub, present := c.dial(1, id, false)
	if !present {
		t.Fatal("Session Present not set on reconnect")
	}
	checkDelivery(t, sub.waitMessages(len(want)), want)
	pub.publish("secured/live", 1, "live")
	if got := sub.waitMessages(len(want) + 1); got[len(want)].Payload != "live" {
		t.Errorf("after the replay got %q, want the live message", got[len(want)].Payload)
	}
	sub.disconnect()
	c.life.waitSteps(id, created, connectedFresh, subscribed, disconnectedNormal, resumed, connectedPresent, disconnectedNormal)
}

// TestWrongKafkaPasswordFailsReadiness starts the real frontend binary
// against the SASL_SSL Kafka with a wrong password: it stays up, /readyz
// answers 503 naming Kafka, and its log has one line about the refusal,
// however often it retries. Correcting the password file makes it ready
// without a restart (the file is read at every new connection).
func TestWrongKafkaPasswordFailsReadiness(t *testing.T) {
	opts := kafkatest.SASLOptions(t)
	redisAddr := redistest.Addr(t)
	dir := t.TempDir()
	secret, users := filepath.Join(dir, "password"), filepath.Join(dir, "mqtt-users")
	if err := os.WriteFile(secret, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// MQTT users from a (empty) password file: no warning about anonymous
	// access competes with the one line this test is about.
	if err := os.WriteFile(users, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t, t.TempDir(), "services/frontend/cmd/mqtt-frontend", "mqtt-frontend")
	logPath := filepath.Join(t.TempDir(), "frontend.log")
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := launchProcess(t, bin, logPath, httpAddr,
		"--kafka", opts.Brokers, "--kafka-tls-ca", opts.TLSCA, "--kafka-sasl-mechanism", opts.SASLMechanism,
		"--kafka-sasl-username", opts.SASLUsername, "--kafka-sasl-password-file", secret,
		"--redis", redisAddr, "--mqtt-addr", "127.0.0.1:"+strconv.Itoa(freePort(t)), "--ws-addr", "",
		"--http-addr", httpAddr, "--node", "fe-wrong-password", "--partitions", "2",
		"--password-file", users, "--log-format", "json", "--log-level", "info")

	// Readiness fails on Kafka, again and again: every /readyz asks Kafka
	// with the wrong password, and the start-up keeps retrying meanwhile.
	refusals, first := 0, time.Time{}
	for i := 0; i < 2000 && (refusals < 10 || time.Since(first) < 3*time.Second); i++ {
		code, body := get(t, "http://"+httpAddr+"/readyz")
		switch {
		case code == http.StatusServiceUnavailable && strings.Contains(body, "kafka:"):
			if refusals == 0 {
				first = time.Now()
			}
			refusals++
		case code == http.StatusOK:
			t.Fatalf("ready with a wrong Kafka password:\n%s", body)
		}
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("frontend exited (%v) instead of waiting unready:\n%s", err, b)
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	if refusals < 10 {
		t.Fatalf("readiness failed on kafka %d times, want 10", refusals)
	}
	troubles := logLines(t, logPath, "WARN", "ERROR")
	if len(troubles) != 1 || !strings.Contains(troubles[0], "kafka refused the client") {
		t.Fatalf("want one log line about the refused credentials, got %d:\n%s", len(troubles), strings.Join(troubles, "\n"))
	}

	// The right password, as a rotated Secret would bring it.
	right, err := os.ReadFile(opts.SASLPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, right, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for code, body := get(t, "http://"+httpAddr+"/readyz"); code != http.StatusOK; code, body = get(t, "http://"+httpAddr+"/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready with the corrected password:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lines := logLines(t, logPath, "WARN", "ERROR"); len(lines) != 1 {
		t.Errorf("%d warning or error lines, want only the refusal:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}

// get returns the status and body of a GET (0 when it fails to connect).
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// logLines returns the JSON log lines of path at one of levels.
func logLines(t *testing.T, path string, levels ...string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var l struct{ Level string }
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			out = append(out, sc.Text()) // not slog's: a panic or a stray print
			continue
		}
		for _, lv := range levels {
			if l.Level == lv {
				out = append(out, sc.Text())
			}
		}
	}
	return out
}

// TestCertificateRotation replaces the frontend's certificate the way
// cert-manager renews a Kubernetes Secret (a new directory swapped in
// behind a symbolic link): a new TLS connection is served the new
// certificate, while an MQTT connection opened before keeps working.
func TestCertificateRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "rotation ca")
	first, second := ca.Issue(t, "frontend-2025"), ca.Issue(t, "frontend-2026")
	secret := tlstest.NewSecretDir(t)
	secret.Update(map[string][]byte{"tls.crt": first.CertPEM, "tls.key": first.KeyPEM})
	c := newCluster(t, options{frontends: 1, tune: func(_ int, cfg *frontend.Config) {
		cfg.TLSAddr = "127.0.0.1:0"
		cfg.TLSCert, cfg.TLSKey = secret.Path("tls.crt"), secret.Path("tls.key")
	}})
	addr := c.fes[0].svc.Addr("tls").String()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cn := presented(t, addr, tc); cn != "frontend-2025" {
		t.Fatalf("presented %q before the rotation", cn)
	}
	old := tlsClient(t, addr, "rotation-old", tc)
	got := make(chan string, 10)
	if tok := old.Subscribe("rotation/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	secret.Update(map[string][]byte{"tls.crt": second.CertPEM, "tls.key": second.KeyPEM})
	deadline := time.Now().Add(waitFor)
	for cn := presented(t, addr, tc); cn != "frontend-2026"; cn = presented(t, addr, tc) {
		if time.Now().After(deadline) {
			t.Fatalf("still presenting %q after the rotation", cn)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A client of the new certificate publishes to the one still on the
	// old: the open connection carries the delivery, and its own publish.
	fresh := tlsClient(t, addr, "rotation-new", tc)
	for _, cl := range []paho.Client{fresh, old} {
		if tok := cl.Publish("rotation/a", 1, false, "hello"); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case p := <-got:
			if p != "hello" {
				t.Fatalf("old connection got %q", p)
			}
		case <-time.After(waitFor):
			t.Fatal("the connection opened before the rotation received nothing")
		}
	}
	if !old.IsConnectionOpen() {
		t.Fatal("the connection opened before the rotation was closed")
	}
}

// presented dials addr and returns the CN of the certificate it presents.
func presented(t *testing.T, addr string, tc *tls.Config) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// tlsClient connects a persistent-less paho client over TLS.
func tlsClient(t *testing.T, addr, id string, tc *tls.Config) paho.Client {
	t.Helper()
	cl := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + addr).SetClientID(id).SetTLSConfig(tc).
		SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).SetConnectTimeout(waitFor))
	if tok := cl.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("%s: connect over tls: %v", id, tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}
