// Package tlsfiles builds TLS configurations and reads secrets from
// files, the way Kubernetes mounts them. It keeps the certificates current:
// a key pair or CA replaced on disk (as cert-manager renews a Secret) is
// used by the next handshake, without a restart, while connections already
// open keep the certificate they were made with. It depends on the
// standard library only, so every adapter that speaks TLS (Kafka, Redis,
// the MQTT listeners) shares it.
package tlsfiles

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Files names the PEM files of one side of a TLS connection. Empty names
// are absent parts.
type Files struct {
	// CA verifies the peer: the server's certificate on a client (system
	// roots when empty), the clients' certificates on a server (client
	// certificates are then required).
	CA string
	// Cert and Key are this side's certificate chain and private key; a
	// server needs them, a client sends them when the peer asks.
	Cert, Key string
	// ServerName is the name a client verifies in the server's certificate;
	// empty means the host it dials.
	ServerName string
}

// ErrNoCertificate is wrapped when a CA file holds no PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate in file")

// CheckInterval is the least time between two looks at the files: a
// handshake checks them when the last look is older than this, so a burst
// of connections costs one stat per file, not one per connection.
const CheckInterval = time.Second

// Client returns a client configuration for f: roots from f.CA (system
// roots when empty), f.ServerName, and f.Cert/f.Key as the client
// certificate, reloaded when the files change. log receives reloads.
func Client(f Files, log *slog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CA != "" {
		pool, err := readPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		w, err := watch(f, false, log)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return w.current().cert, nil
		}
	}
	return cfg, nil
}

// Server returns a server configuration presenting f.Cert/f.Key and, when
// f.CA is set, requiring client certificates signed by it. Every handshake
// gets the files' current content: new connections see a rotated
// certificate or CA, open ones keep theirs.
func Server(f Files, log *slog.Logger) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("tls server: certificate and key files are both required")
	}
	w, err := watch(f, true, log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return w.current().server, nil
		},
	}, nil
}

// loaded is one consistent version of the files.
type loaded struct {
	cert   *tls.Certificate
	server *tls.Config // server side only
	sum    [sha256.Size]byte
}

// watcher holds the version in force and replaces it when the files
// change and the new content loads.
type watcher struct {
	f      Files
	server bool
	log    *slog.Logger
	cur    atomic.Pointer[loaded]

	mu     sync.Mutex // serialises checks
	last   time.Time  // of the last check
	stats  []os.FileInfo
	failed [sha256.Size]byte // content that failed to load, reported once
}

func watch(f Files, server bool, log *slog.Logger) (*watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &watcher{f: f, server: server, log: log}
	stats, data, err := w.read()
	if err != nil {
		return nil, err
	}
	l, err := w.load(data)
	if err != nil {
		return nil, err
	}
	w.stats, w.last = stats, time.Now()
	w.cur.Store(l)
	return w, nil
}

// paths are the watched files: the key pair, and the CA on a server (a
// client's roots are read once).
func (w *watcher) paths() []string {
	p := []string{w.f.Cert, w.f.Key}
	if w.server && w.f.CA != "" {
		p = append(p, w.f.CA)
	}
	return p
}

// read stats then reads every file. os.Stat follows symbolic links, so a
// Secret volume's swapped "..data" link shows as a changed file.
func (w *watcher) read() ([]os.FileInfo, [][]byte, error) {
	var stats []os.FileInfo
	var data [][]byte
	for _, p := range w.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("tls files: %w", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("tls files: %w", err)
		}
		stats, data = append(stats, fi), append(data, b)
	}
	return stats, data, nil
}

func (w *watcher) load(data [][]byte) (*loaded, error) {
	l := &loaded{sum: digest(data)}
	cert, err := tls.X509KeyPair(data[0], data[1])
	if err != nil {
		return nil, fmt.Errorf("load key pair %s, %s: %w", w.f.Cert, w.f.Key, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	l.cert = &cert
	if !w.server {
		return l, nil
	}
	l.server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if w.f.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data[2]) {
			return nil, fmt.Errorf("client ca %s: %w", w.f.CA, ErrNoCertificate)
		}
		l.server.ClientCAs = pool
		l.server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return l, nil
}

func digest(data [][]byte) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range data {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// current returns the version in force, first reloading the files when
// they changed since the last look (at most once per CheckInterval).
func (w *watcher) current() *loaded {
	w.check(time.Now())
	return w.cur.Load()
}

func (w *watcher) check(now time.Time) {
	if !w.mu.TryLock() {
		return // another handshake is looking; use the version in force
	}
	defer w.mu.Unlock()
	if now.Sub(w.last) < CheckInterval {
		return
	}
	w.last = now
	if w.unchanged() {
		return
	}
	// A half-written rotation (the certificate replaced, the key not yet)
	// fails to load: the old version stays and the next look tries again.
	stats, data, err := w.read()
	if err != nil {
		return
	}
	w.stats = stats
	sum := digest(data)
	if sum == w.cur.Load().sum || sum == w.failed {
		return
	}
	l, err := w.load(data)
	if err != nil {
		w.failed = sum
		w.log.Warn("tls files changed but do not load; keeping the certificate in force", "cert", w.f.Cert, "err", err)
		return
	}
	w.cur.Store(l)
	w.log.Info("tls certificate reloaded", "cert", w.f.Cert, "subject", l.cert.Leaf.Subject.String(), "not_after", l.cert.Leaf.NotAfter)
}

// unchanged reports whether every file still has the identity, size and
// modification time of the last read.
func (w *watcher) unchanged() bool {
	for i, p := range w.paths() {
		fi, err := os.Stat(p)
		if err != nil || i >= len(w.stats) {
			return false
		}
		o := w.stats[i]
		if !os.SameFile(o, fi) || o.Size() != fi.Size() || !o.ModTime().Equal(fi.ModTime()) {
			return false
		}
	}
	return true
}

func readPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls ca %s: %w", path, ErrNoCertificate)
	}
	return pool, nil
}
