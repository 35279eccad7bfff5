package kafkalog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/tidemarkmq/tidemark/pkg/tlsfiles"
)

// Cluster is how every component reaches one Kafka cluster: the bootstrap
// brokers and the security of each connection. The zero security is
// plaintext without authentication.
type Cluster struct {
	Brokers []string
	// TLS, when set, encrypts every connection (and may carry a client
	// certificate).
	TLS *tls.Config
	// SASL, when set, authenticates every connection.
	SASL sasl.Mechanism
}

// Plain is a Cluster reached in plaintext without authentication.
func Plain(brokers ...string) Cluster { return Cluster{Brokers: brokers} }

// String describes the cluster for logs, without secrets.
func (c Cluster) String() string {
	s := strings.Join(c.Brokers, ",")
	if c.TLS != nil {
		s += " tls"
	}
	if c.SASL != nil {
		s += " sasl " + c.SASL.Name()
	}
	return s
}

// key identifies the cluster and its security in the shared transports.
type clusterKey struct {
	brokers string
	tls     *tls.Config
	sasl    sasl.Mechanism
}

func (c Cluster) key() clusterKey {
	return clusterKey{strings.Join(c.Brokers, ","), c.TLS, c.SASL}
}

// dialer is the consumer group's way to connect, with the same security
// as the transports.
func (c Cluster) dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 5 * time.Second, DualStack: true, ClientID: "tidemark", TLS: c.TLS, SASLMechanism: c.SASL}
}

// SASL mechanism names, as the --kafka-sasl-mechanism flag takes them.
const (
	SASLNone        = "none"
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// Options are a Cluster as flags and TIDEMARK_* variables describe it:
// paths to files, never the secrets themselves. Every binary and tool that
// talks to Kafka registers them with Flags, so they cannot drift apart.
type Options struct {
	// Brokers is the comma-separated bootstrap list.
	Brokers string
	// TLS turns on TLS; TLSCA, TLSCert and TLSKey (PEM files) imply it.
	TLS                         bool
	TLSCA, TLSCert, TLSKey      string
	TLSServerName               string
	SASLMechanism, SASLUsername string
	SASLPasswordFile            string
}

// Flags registers --kafka and the --kafka-tls-* and --kafka-sasl-* flags
// on fs and returns where their values land.
func Flags(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.Brokers, "kafka", "127.0.0.1:9092", "Kafka bootstrap brokers, comma separated")
	fs.BoolVar(&o.TLS, "kafka-tls", false, "connect to Kafka over TLS (implied by the other --kafka-tls-* flags)")
	fs.StringVar(&o.TLSCA, "kafka-tls-ca", "", "PEM CA file that signed the brokers' certificates (default: the system roots)")
	fs.StringVar(&o.TLSCert, "kafka-tls-cert", "", "PEM client certificate file for Kafka (mutual TLS; reloaded when it changes)")
	fs.StringVar(&o.TLSKey, "kafka-tls-key", "", "PEM private key file of --kafka-tls-cert")
	fs.StringVar(&o.TLSServerName, "kafka-tls-server-name", "", "name to verify in the brokers' certificates (default: the host dialled)")
	fs.StringVar(&o.SASLMechanism, "kafka-sasl-mechanism", SASLNone, "SASL authentication: none, plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&o.SASLUsername, "kafka-sasl-username", "", "SASL user name")
	fs.StringVar(&o.SASLPasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password (read at every new connection, so a rotated secret is picked up)")
	return o
}

// ErrOptions is wrapped by Options.Cluster for settings that cannot work.
var ErrOptions = errors.New("invalid kafka options")

// Cluster checks o and builds the Cluster: it reads the TLS files (the
// client key pair is reloaded when it changes; log receives that) and
// checks that the password file is readable.
func (o Options) Cluster(log *slog.Logger) (Cluster, error) {
	var c Cluster
	for b := range strings.SplitSeq(o.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if len(c.Brokers) == 0 {
		return Cluster{}, fmt.Errorf("%w: no brokers", ErrOptions)
	}
	if o.TLS || o.TLSCA != "" || o.TLSCert != "" || o.TLSKey != "" || o.TLSServerName != "" {
		if (o.TLSCert == "") != (o.TLSKey == "") {
			return Cluster{}, fmt.Errorf("%w: --kafka-tls-cert and --kafka-tls-key go together", ErrOptions)
		}
		cfg, err := tlsfiles.Client(tlsfiles.Files{CA: o.TLSCA, Cert: o.TLSCert, Key: o.TLSKey, ServerName: o.TLSServerName}, log)
		if err != nil {
			return Cluster{}, fmt.Errorf("kafka tls: %w", err)
		}
		c.TLS = cfg
	}
	m := strings.ToLower(o.SASLMechanism)
	if m == "" || m == SASLNone {
		return c, nil
	}
	if o.SASLUsername == "" || o.SASLPasswordFile == "" {
		return Cluster{}, fmt.Errorf("%w: --kafka-sasl-mechanism %s needs --kafka-sasl-username and --kafka-sasl-password-file", ErrOptions, m)
	}
	if _, err := tlsfiles.ReadSecret(o.SASLPasswordFile); err != nil {
		return Cluster{}, fmt.Errorf("kafka sasl: %w", err)
	}
	fm := &fileMechanism{user: o.SASLUsername, path: o.SASLPasswordFile}
	switch m {
	case SASLPlain:
		fm.name = "PLAIN"
		fm.build = func(user, pass string) (sasl.Mechanism, error) {
			return plain.Mechanism{Username: user, Password: pass}, nil
		}
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		fm.name = "SCRAM-SHA-256"
		if m == SASLScramSHA512 {
			algo, fm.name = scram.SHA512, "SCRAM-SHA-512"
		}
		fm.build = func(user, pass string) (sasl.Mechanism, error) { return scram.Mechanism(algo, user, pass) }
	default:
		return Cluster{}, fmt.Errorf("%w: unknown --kafka-sasl-mechanism %q (none, plain, scram-sha-256, scram-sha-512)", ErrOptions, o.SASLMechanism)
	}
	c.SASL = fm
	return c, nil
}

// fileMechanism is a SASL mechanism whose password is read from a file at
// every authentication, so a rotated Secret reaches new connections
// without a restart.
type fileMechanism struct {
	name, user, path string
	build            func(user, pass string) (sasl.Mechanism, error)
}

func (m *fileMechanism) Name() string { return m.name }

func (m *fileMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	pass, err := tlsfiles.ReadSecret(m.path)
	if err != nil {
		return nil, nil, fmt.Errorf("sasl %s: %w", m.name, err)
	}
	mech, err := m.build(m.user, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("sasl %s: %w", m.name, err)
	}
	return mech.Start(ctx)
}

// ErrAuth is wrapped by errors that mean the cluster refused this client:
// SASL authentication or authorization failed, or the TLS handshake did
// (unknown CA, wrong server name, a broker that does not speak TLS). A
// configuration to fix, not an outage to wait out.
var ErrAuth = errors.New("kafka refused the client (credentials, authorization or TLS)")

// refused reports whether err is one of ErrAuth's causes.
func refused(err error) bool {
	for _, e := range []kafka.Error{kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism,
		kafka.IllegalSASLState, kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed,
		kafka.ClusterAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	var (
		verr *tls.CertificateVerificationError
		aerr tls.AlertError
		herr tls.RecordHeaderError
		uerr x509.UnknownAuthorityError
		nerr x509.HostnameError
	)
	return errors.As(err, &verr) || errors.As(err, &aerr) || errors.As(err, &herr) ||
		errors.As(err, &uerr) || errors.As(err, &nerr)
}

// AwaitAccess returns once the cluster answers a metadata request, or as
// soon as it cannot be reached at all (the components wait out outages
// themselves). While the cluster refuses the client (ErrAuth) it logs that
// once, as an error naming what to check, and keeps trying quietly, so a
// process with a wrong password stays up and unready instead of restarting
// in a loop of errors. It returns ctx's error when ctx ends first.
func AwaitAccess(ctx context.Context, c Cluster, log *slog.Logger) error {
	log = loggerOr(log)
	var b backoff
	logged := false
	for {
		err := access(ctx, c)
		if err == nil || !errors.Is(err, ErrAuth) {
			if logged {
				log.Info("kafka accepts the client now", "kafka", c.String())
			}
			return nil
		}
		if !logged {
			log.Error("kafka refused the client; not ready until it is accepted (check the SASL user and password file, the TLS files and the ACLs)", "kafka", c.String(), "err", err)
			logged = true
		}
		if !sleep(ctx, max(b.next(), time.Second)) {
			return ctx.Err()
		}
	}
}

// access asks the cluster for its metadata once, on the shared transport:
// a transport keeps a failed metadata refresh's error for a while, and the
// shared one is what readiness and the start-up use next.
func access(ctx context.Context, c Cluster) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := newClient(c, sharedTransport(c)).Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		return fmt.Errorf("kafka metadata: %w", classify(err))
	}
	return nil
}

// Transport returns a new kafka-go transport with c's security, for tools
// that drive kafka-go directly (the raw producer of the load tool).
func (c Cluster) Transport() *kafka.Transport { return newTransport(c) }
