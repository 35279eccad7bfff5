// Package tlstest makes throw-away certificate authorities and key pairs
// for tests of TLS listeners and clients, written as PEM files.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that signs leaf certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, PEM encoded.
	PEM []byte
}

// NewCA makes a CA named cn.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	cert, key, der := sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// sign makes a key and a certificate of tmpl (valid from an hour ago for
// a day) signed by parent's key, or by itself when parent is nil.
func sign(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, der
}

// Leaf is a signed certificate and its key, PEM encoded.
type Leaf struct {
	Cert            *x509.Certificate
	CertPEM, KeyPEM []byte
}

// Issue signs a certificate for cn, valid for 127.0.0.1 and localhost, for
// servers and clients alike.
func (ca *CA) Issue(t testing.TB, cn string) *Leaf {
	t.Helper()
	cert, key, der := sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, ca.Cert, ca.key)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
	}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// SecretDir lays out files the way a Kubernetes Secret volume does: each
// name is a symbolic link into "..data", itself a link to a timestamped
// directory, and an update writes a new directory and swaps "..data" in one
// rename. It is what cert-manager's renewals look like to a pod.
type SecretDir struct {
	Dir string
	t   testing.TB
	gen int
}

// NewSecretDir makes an empty Secret-style directory under t.TempDir().
func NewSecretDir(t testing.TB) *SecretDir {
	return &SecretDir{Dir: t.TempDir(), t: t}
}

// Path is where name appears to a reader.
func (s *SecretDir) Path(name string) string { return filepath.Join(s.Dir, name) }

// Update writes a new version of the files (name -> content) and swaps it
// in atomically.
func (s *SecretDir) Update(files map[string][]byte) {
	s.t.Helper()
	s.gen++
	ver := "..v" + time.Now().Format("20060102_150405") + "_" + big.NewInt(int64(s.gen)).String()
	if err := os.Mkdir(filepath.Join(s.Dir, ver), 0o755); err != nil {
		s.t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, ver, name), b, 0o600); err != nil {
			s.t.Fatal(err)
		}
		link := filepath.Join(s.Dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(s.Dir, "..data_tmp")
	if err := os.Symlink(ver, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
}
