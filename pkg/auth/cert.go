package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// CertIdentity chooses what part of a client certificate is the user name.
type CertIdentity int

// Certificate fields usable as user names.
const (
	// CertNone: certificates are not identities (the default).
	CertNone CertIdentity = iota
	// CertCN: the subject's Common Name, as Mosquitto's
	// use_identity_as_username.
	CertCN
	// CertSubject: the whole subject as an RFC 2253 string, as Mosquitto's
	// use_subject_as_username.
	CertSubject
	// CertDNS: the first DNS name of the Subject Alternative Names.
	CertDNS
	// CertEmail: the first e-mail address of the Subject Alternative Names.
	CertEmail
)

// ErrNoCertIdentity is returned when there is no verified client
// certificate, or it lacks the field chosen as the identity.
var ErrNoCertIdentity = errors.New("no identity in client certificate")

// CertUsername returns the user name a certificate stands for.
func CertUsername(cert *x509.Certificate, id CertIdentity) (string, error) {
	var name string
	switch id {
	case CertCN:
		name = cert.Subject.CommonName
	case CertSubject:
		name = cert.Subject.String()
	case CertDNS:
		if len(cert.DNSNames) > 0 {
			name = cert.DNSNames[0]
		}
	case CertEmail:
		if len(cert.EmailAddresses) > 0 {
			name = cert.EmailAddresses[0]
		}
	default:
		return "", fmt.Errorf("cert username: identity %d: %w", id, ErrNoCertIdentity)
	}
	if name == "" {
		return "", fmt.Errorf("cert username: empty field: %w", ErrNoCertIdentity)
	}
	return name, nil
}

// PeerUsername returns the user name of a TLS connection's client
// certificate. Only a certificate that the handshake verified against the
// client CAs counts (tls.Config.ClientAuth VerifyClientCertIfGiven or
// RequireAndVerifyClientCert): a certificate that was merely presented
// proves nothing.
func PeerUsername(state *tls.ConnectionState, id CertIdentity) (string, error) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", fmt.Errorf("peer username: no verified client certificate: %w", ErrNoCertIdentity)
	}
	return CertUsername(state.VerifiedChains[0][0], id)
}
