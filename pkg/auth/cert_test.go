package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake runs a real TLS handshake over a pipe and returns the server's
// view of it.
func handshake(t *testing.T, ca *testCA, auth tls.ClientAuthType, client *tls.Certificate) *tls.ConnectionState {
	t.Helper()
	server := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "broker"}, DNSNames: []string{"broker"}})
	cs, cc := net.Pipe()
	defer cs.Close()
	defer cc.Close()
	srv := tls.Server(cs, &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: auth, ClientCAs: ca.pool})
	cliCfg := &tls.Config{RootCAs: ca.pool, ServerName: "broker"}
	if client != nil {
		cliCfg.Certificates = []tls.Certificate{*client}
	}
	cli := tls.Client(cc, cliCfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- cli.HandshakeContext(ctx) }()
	if err := srv.HandshakeContext(ctx); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	st := srv.ConnectionState()
	return &st
}

func TestPeerUsername(t *testing.T) {
	ca := newTestCA(t)
	full := ca.issue(t, &x509.Certificate{
		Subject:        pkix.Name{CommonName: "device-42", Organization: []string{"Fleet"}},
		DNSNames:       []string{"d42.fleet.example", "other.example"},
		EmailAddresses: []string{"ops@fleet.example"},
	})
	bare := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bare"}})
	verified := handshake(t, ca, tls.RequireAndVerifyClientCert, &full)
	verifiedBare := handshake(t, ca, tls.VerifyClientCertIfGiven, &bare)
	// A self-signed certificate the server requested but did not verify.
	other := newTestCA(t).issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "admin"}})
	unverified := handshake(t, ca, tls.RequestClientCert, &other)
	none := handshake(t, ca, tls.VerifyClientCertIfGiven, nil)

	tests := []struct {
		name  string
		state *tls.ConnectionState
		id    CertIdentity
		want  string
	}{
		{"cn", verified, CertCN, "device-42"},
		{"subject", verified, CertSubject, "CN=device-42,O=Fleet"},
		{"first dns", verified, CertDNS, "d42.fleet.example"},
		{"email", verified, CertEmail, "ops@fleet.example"},
		{"no dns san", verifiedBare, CertDNS, ""},
		{"no email san", verifiedBare, CertEmail, ""},
		{"unverified", unverified, CertCN, ""},
		{"no certificate", none, CertCN, ""},
		{"not tls", nil, CertCN, ""},
		{"identity none", verified, CertNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeerUsername(tt.state, tt.id)
			if tt.want == "" {
				if !errors.Is(err, ErrNoCertIdentity) {
					t.Fatalf("PeerUsername = %q, %v; want ErrNoCertIdentity", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PeerUsername = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
