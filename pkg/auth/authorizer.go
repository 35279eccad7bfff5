package auth

import (
	"context"
	"crypto/tls"
	"errors"
)

// PasswordChecker verifies user names and passwords: *Passwords and
// *PasswordFile.
type PasswordChecker interface {
	Verify(user string, password []byte, hasPassword bool) error
}

// Rules decides topic access: *ACL and *ACLFile.
type Rules interface {
	CanPublish(c Client, name string) bool
	CanRead(c Client, name string) bool
	CanSubscribe(c Client, filter string) SubAccess
}

// Config chooses how clients are authenticated and authorized.
type Config struct {
	// AllowAnonymous lets in clients without a user name (default false:
	// they are refused with ErrNotAuthorized). With no Passwords, a client
	// that gives a user name is let in only when this is true, and is then
	// trusted to be who it says for the ACL, as in Mosquitto.
	AllowAnonymous bool
	// Passwords verifies user names and passwords; nil: none configured.
	Passwords PasswordChecker
	// ACL decides topic access; nil: every client that is let in may
	// publish and subscribe to everything.
	ACL Rules
	// CertIdentity makes a verified TLS client certificate the client's
	// identity: its user name comes from the certificate, whatever the
	// CONNECT says, and no password is needed. Clients without one are
	// handled as if this were CertNone.
	CertIdentity CertIdentity
}

// ConnectRequest is what Authorizer.Connect looks at in a CONNECT.
type ConnectRequest struct {
	ClientID    string
	Username    string
	Password    []byte
	HasPassword bool
	// TLS is the connection's state on TLS listeners, nil otherwise.
	TLS *tls.ConnectionState
}

// Authorizer decides CONNECT, SUBSCRIBE and PUBLISH. Safe for concurrent
// use; its files reload on their own (run their Run methods).
type Authorizer struct {
	cfg Config
}

// New returns an Authorizer for cfg.
func New(cfg Config) *Authorizer { return &Authorizer{cfg: cfg} }

// Connect authenticates a CONNECT. It returns the user name the client is
// known by from now on (the certificate's with CertIdentity, else the
// CONNECT's), or ErrBadCredentials or ErrNotAuthorized. The error never
// tells an unknown user from a wrong password.
func (a *Authorizer) Connect(_ context.Context, r ConnectRequest) (string, error) {
	if a.cfg.CertIdentity != CertNone && r.TLS != nil {
		name, err := PeerUsername(r.TLS, a.cfg.CertIdentity)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, ErrNoCertIdentity) {
			return "", err
		}
		if len(r.TLS.VerifiedChains) > 0 {
			// A verified certificate without the identity field: the
			// operator asked for certificate identities, so refuse
			// rather than fall back to what the client claims.
			return "", ErrNotAuthorized
		}
	}
	switch {
	case r.Username == "" && !a.cfg.AllowAnonymous:
		return "", ErrNotAuthorized
	case r.Username == "":
		return "", nil
	case a.cfg.Passwords != nil:
		if err := a.cfg.Passwords.Verify(r.Username, r.Password, r.HasPassword); err != nil {
			return "", err
		}
		return r.Username, nil
	case a.cfg.AllowAnonymous:
		return r.Username, nil
	}
	return "", ErrBadCredentials
}

// Subscribe judges a SUBSCRIBE filter (a shared one on its inner filter).
func (a *Authorizer) Subscribe(_ context.Context, c Client, filter string) SubAccess {
	if a.cfg.ACL == nil {
		return SubGranted
	}
	return a.cfg.ACL.CanSubscribe(c, filter)
}

// Publish reports whether c may publish to the topic name (a PUBLISH or a
// will message).
func (a *Authorizer) Publish(_ context.Context, c Client, name string) bool {
	return a.cfg.ACL == nil || a.cfg.ACL.CanPublish(c, name)
}

// Read reports whether a message on the topic name may be delivered to c:
// for retained messages, and for live ones on SubFiltered subscriptions.
func (a *Authorizer) Read(_ context.Context, c Client, name string) bool {
	return a.cfg.ACL == nil || a.cfg.ACL.CanRead(c, name)
}
