package tlsfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/tlsfiles"
	"github.com/tidemarkmq/tidemark/pkg/tlsfiles/tlstest"
)

// serve accepts TLS connections with cfg until the test ends; each
// connection echoes one byte so a handshake completes.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				for {
					if _, err := c.Read(b); err != nil {
						return
					}
					if _, err := c.Write(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func dial(t *testing.T, addr string, ca *tlstest.CA, client *tlstest.Leaf) (*tls.Conn, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if client != nil {
		pair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	// The server verifies the client's certificate after the client's
	// side of the handshake: a round trip makes its verdict visible.
	if _, err := c.Write([]byte{1}); err == nil {
		_, err = io.ReadFull(c, make([]byte, 1))
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// TestServerRotation replaces the key pair the way a Kubernetes Secret
// update does: a new connection gets the new certificate, an open one
// keeps working, and a half-written update keeps the old one in force.
func TestServerRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "test ca")
	first, second := ca.Issue(t, "first"), ca.Issue(t, "second")
	dir := tlstest.NewSecretDir(t)
	dir.Update(map[string][]byte{"tls.crt": first.CertPEM, "tls.key": first.KeyPEM})
	cfg, err := tlsfiles.Server(tlsfiles.Files{Cert: dir.Path("tls.crt"), Key: dir.Path("tls.key")}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	open, err := dial(t, addr, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if cn := open.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "first" {
		t.Fatalf("first connection got %q", cn)
	}

	// A certificate without its key: not loadable, the old pair stays.
	dir.Update(map[string][]byte{"tls.crt": second.CertPEM, "tls.key": first.KeyPEM})
	waitPresented(t, addr, ca, "first", 3*tlsfiles.CheckInterval)

	dir.Update(map[string][]byte{"tls.crt": second.CertPEM, "tls.key": second.KeyPEM})
	waitPresented(t, addr, ca, "second", 0)
	if _, err := open.Write([]byte{2}); err != nil {
		t.Fatalf("open connection broken by the rotation: %v", err)
	}
	if _, err := io.ReadFull(open, make([]byte, 1)); err != nil {
		t.Fatalf("open connection broken by the rotation: %v", err)
	}
}

// waitPresented dials until the server presents cn; with hold > 0 it
// instead requires cn on every dial for that long.
func waitPresented(t *testing.T, addr string, ca *tlstest.CA, cn string, hold time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	until := time.Now().Add(hold)
	for i := 0; i < 10000; i++ {
		c, err := dial(t, addr, ca, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := c.ConnectionState().PeerCertificates[0].Subject.CommonName
		c.Close()
		switch {
		case hold > 0 && got != cn:
			t.Fatalf("server presented %q, want %q to stay", got, cn)
		case hold > 0 && time.Now().After(until):
			return
		case hold == 0 && got == cn:
			return
		case time.Now().After(deadline):
			t.Fatalf("server still presents %q, want %q", got, cn)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("too many dials")
}

// TestServerClientCARotation swaps the client CA: a client of the new CA
// gets in, one of the old CA no longer does.
func TestServerClientCARotation(t *testing.T) {
	ca, oldCA, newCA := tlstest.NewCA(t, "server ca"), tlstest.NewCA(t, "old clients"), tlstest.NewCA(t, "new clients")
	srv := ca.Issue(t, "server")
	oldClient, newClient := oldCA.Issue(t, "old"), newCA.Issue(t, "new")
	dir := tlstest.NewSecretDir(t)
	dir.Update(map[string][]byte{"tls.crt": srv.CertPEM, "tls.key": srv.KeyPEM, "ca.crt": oldCA.PEM})
	cfg, err := tlsfiles.Server(tlsfiles.Files{Cert: dir.Path("tls.crt"), Key: dir.Path("tls.key"), CA: dir.Path("ca.crt")}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	for _, tc := range []struct {
		name   string
		client *tlstest.Leaf
		ok     bool
	}{{"old ca client", oldClient, true}, {"new ca client", newClient, false}, {"no certificate", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := dial(t, addr, ca, tc.client)
			if (err == nil) != tc.ok {
				t.Fatalf("dial: %v, want success %v", err, tc.ok)
			}
			if c != nil {
				c.Close()
			}
		})
	}
	dir.Update(map[string][]byte{"tls.crt": srv.CertPEM, "tls.key": srv.KeyPEM, "ca.crt": newCA.PEM})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := dial(t, addr, ca, newClient)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new CA's client still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c, err := dial(t, addr, ca, oldClient); err == nil {
		c.Close()
		t.Fatal("old CA's client still accepted after the CA was replaced")
	}
}

func TestClientConfig(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	leaf := ca.Issue(t, "client")
	dir := tlstest.NewSecretDir(t)
	dir.Update(map[string][]byte{"ca.crt": ca.PEM, "tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM, "bad": []byte("nothing")})
	tests := []struct {
		name  string
		files tlsfiles.Files
		ok    bool
	}{
		{"system roots", tlsfiles.Files{}, true},
		{"ca and key pair", tlsfiles.Files{CA: dir.Path("ca.crt"), Cert: dir.Path("tls.crt"), Key: dir.Path("tls.key"), ServerName: "kafka"}, true},
		{"ca without certificates", tlsfiles.Files{CA: dir.Path("bad")}, false},
		{"missing ca", tlsfiles.Files{CA: dir.Path("none")}, false},
		{"certificate without key", tlsfiles.Files{Cert: dir.Path("tls.crt")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tlsfiles.Client(tc.files, quiet())
			if (err == nil) != tc.ok {
				t.Fatalf("Client: %v, want success %v", err, tc.ok)
			}
			if err != nil {
				return
			}
			if cfg.ServerName != tc.files.ServerName {
				t.Errorf("server name %q, want %q", cfg.ServerName, tc.files.ServerName)
			}
			if tc.files.Cert != "" {
				c, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{})
				if err != nil || c.Leaf.Subject.CommonName != "client" {
					t.Errorf("client certificate %v, %v", c, err)
				}
			}
		})
	}
}
