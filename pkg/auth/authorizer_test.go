package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

func TestAuthorizerConnect(t *testing.T) {
	pw, err := ParsePasswords(readFixture(t, "mosquitto-2.0.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	devCert := ca.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "device-42"}})
	noCN := ca.issue(t, &x509.Certificate{DNSNames: []string{"x.example"}})
	verified := handshake(t, ca, tls.RequireAndVerifyClientCert, &devCert)
	verifiedNoCN := handshake(t, ca, tls.RequireAndVerifyClientCert, &noCN)
	plainTLS := handshake(t, ca, tls.VerifyClientCertIfGiven, nil)

	closed := Config{Passwords: pw}
	open := Config{Passwords: pw, AllowAnonymous: true}
	certs := Config{Passwords: pw, CertIdentity: CertCN}
	tests := []struct {
		name    string
		cfg     Config
		req     ConnectRequest
		want    string
		wantErr error
	}{
		{"good password", closed, ConnectRequest{Username: "alice", Password: []byte("secret"), HasPassword: true}, "alice", nil},
		{"wrong password", closed, ConnectRequest{Username: "alice", Password: []byte("x"), HasPassword: true}, "", ErrBadCredentials},
		{"unknown user", closed, ConnectRequest{Username: "zed", Password: []byte("secret"), HasPassword: true}, "", ErrBadCredentials},
		{"no password", closed, ConnectRequest{Username: "alice"}, "", ErrBadCredentials},
		{"anonymous refused", closed, ConnectRequest{}, "", ErrNotAuthorized},
		{"anonymous allowed", open, ConnectRequest{}, "", nil},
		{"anonymous allowed, bad password still refused", open, ConnectRequest{Username: "alice", Password: []byte("x"), HasPassword: true}, "", ErrBadCredentials},
		{"no password file, anonymous off", Config{}, ConnectRequest{Username: "alice"}, "", ErrBadCredentials},
		{"no password file, anonymous on", Config{AllowAnonymous: true}, ConnectRequest{Username: "alice"}, "alice", nil},
		{"certificate identity", certs, ConnectRequest{Username: "admin", TLS: verified}, "device-42", nil},
		{"certificate without the field", certs, ConnectRequest{Username: "alice", Password: []byte("secret"), HasPassword: true, TLS: verifiedNoCN}, "", ErrNotAuthorized},
		{"tls without certificate falls back to password", certs, ConnectRequest{Username: "alice", Password: []byte("secret"), HasPassword: true, TLS: plainTLS}, "alice", nil},
		{"tls without certificate, bad password", certs, ConnectRequest{Username: "alice", TLS: plainTLS}, "", ErrBadCredentials},
		{"certificates off", closed, ConnectRequest{Username: "admin", TLS: verified}, "", ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(tt.cfg).Connect(context.Background(), tt.req)
			if err != tt.wantErr || got != tt.want {
				t.Fatalf("Connect = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAuthorizerTopics(t *testing.T) {
	acl, err := ParseACL([]byte("user alice\ntopic read in/#\ntopic write out/#\ntopic deny in/secret\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := Client{ClientID: "c", Username: "alice"}
	withACL, noACL := New(Config{ACL: acl}), New(Config{})
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"publish granted", withACL.Publish(ctx, alice, "out/x"), true},
		{"publish refused", withACL.Publish(ctx, alice, "in/x"), false},
		{"subscribe granted", withACL.Subscribe(ctx, alice, "in/+/y") == SubGranted, true},
		{"subscribe filtered", withACL.Subscribe(ctx, alice, "in/#") == SubFiltered, true},
		{"subscribe refused", withACL.Subscribe(ctx, alice, "out/#") == SubDenied, true},
		{"read refused by deny", withACL.Read(ctx, alice, "in/secret"), false},
		{"no ACL publishes", noACL.Publish(ctx, alice, "anything"), true},
		{"no ACL subscribes", noACL.Subscribe(ctx, alice, "#") == SubGranted, true},
		{"no ACL reads", noACL.Read(ctx, alice, "$SYS/x"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}
