package frontend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/auth"
)

// FileAuth adapts auth.Authorizer (Mosquitto password and ACL files,
// certificate identities) to the frontend's plug-in point. A filter the
// ACL grants only in part (auth.SubFiltered) is accepted, and every
// message is then checked with Read before delivery, as Mosquitto does.
type FileAuth struct{ A *auth.Authorizer }

// Connect authenticates with the password file or the certificate.
func (f FileAuth) Connect(ctx context.Context, c ConnectInfo) (string, error) {
	user, err := f.A.Connect(ctx, auth.ConnectRequest{
		ClientID: c.ClientID, Username: c.Username, Password: c.Password, HasPassword: c.HasPassword, TLS: c.TLS,
	})
	switch {
	case err == nil:
		return user, nil
	case errors.Is(err, auth.ErrBadCredentials):
		return "", fmt.Errorf("%w: %w", ErrBadCredentials, err)
	default:
		return "", fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	}
}

// Subscribe consults the ACL.
func (f FileAuth) Subscribe(ctx context.Context, c ClientInfo, filter string) bool {
	return f.A.Subscribe(ctx, authClient(c), filter) != auth.SubDenied
}

// Publish consults the ACL.
func (f FileAuth) Publish(ctx context.Context, c ClientInfo, topic string) bool {
	return f.A.Publish(ctx, authClient(c), topic)
}

// Read consults the ACL for one delivery.
func (f FileAuth) Read(ctx context.Context, c ClientInfo, topic string) bool {
	return f.A.Read(ctx, authClient(c), topic)
}

func authClient(c ClientInfo) auth.Client {
	return auth.Client{ClientID: c.ClientID, Username: c.Username}
}

// AuthOptions choose how the binaries authenticate and authorize clients.
type AuthOptions struct {
	// PasswordFile is a Mosquitto password file ("": none).
	PasswordFile string
	// ACLFile is a Mosquitto ACL file ("": every client that is let in may
	// use every topic).
	ACLFile string
	// AllowAnonymous lets in clients without a user name, and, with no
	// password file, clients with any user name. Off unless asked for.
	AllowAnonymous bool
	// CertIdentity takes the user name from a verified TLS client
	// certificate: none, cn, subject or dns (a DNS SAN).
	CertIdentity string
	// ReloadInterval is how often the files are checked for changes;
	// default auth.DefaultInterval.
	ReloadInterval time.Duration
}

// AuthFlags registers the authentication flags on fs.
func AuthFlags(fs *flag.FlagSet) *AuthOptions {
	o := &AuthOptions{}
	fs.StringVar(&o.PasswordFile, "password-file", "", "Mosquitto-format password file, reloaded when it changes (empty: no passwords)")
	fs.StringVar(&o.ACLFile, "acl-file", "", "Mosquitto-format ACL file, reloaded when it changes (empty: every client let in may use every topic)")
	fs.BoolVar(&o.AllowAnonymous, "allow-anonymous", false, "let in clients without a user name (and any user name when there is no password file)")
	fs.StringVar(&o.CertIdentity, "cert-identity", "none", "take the user name from the TLS client certificate: none, cn, subject or dns")
	fs.DurationVar(&o.ReloadInterval, "auth-reload-interval", auth.DefaultInterval, "how often the password and ACL files are checked for changes")
	return o
}

// NewAuthorizer builds the Authorizer o describes. The files are watched
// and reloaded while ctx lasts. Anonymous access with neither files nor
// certificate identities is AllowAll; it is logged as a warning, as is a
// configuration that lets nobody in.
func NewAuthorizer(ctx context.Context, log *slog.Logger, o AuthOptions) (Authorizer, error) {
	if log == nil {
		log = slog.Default()
	}
	ids := map[string]auth.CertIdentity{"": auth.CertNone, "none": auth.CertNone, "cn": auth.CertCN, "subject": auth.CertSubject, "dns": auth.CertDNS}
	id, ok := ids[o.CertIdentity]
	if !ok {
		return nil, fmt.Errorf("%w: cert identity %q: want none, cn, subject or dns", ErrConfig, o.CertIdentity)
	}
	if o.AllowAnonymous {
		log.Warn("anonymous clients are allowed (--allow-anonymous): do not expose this broker")
	}
	if o.PasswordFile == "" && o.ACLFile == "" && o.AllowAnonymous && id == auth.CertNone {
		return AllowAll{}, nil
	}
	if o.PasswordFile == "" && !o.AllowAnonymous && id == auth.CertNone {
		log.Warn("no password file, no certificate identity and no anonymous access: every CONNECT will be refused")
	}
	cfg := auth.Config{AllowAnonymous: o.AllowAnonymous, CertIdentity: id}
	opt := auth.WatchOptions{Logger: log, Interval: o.ReloadInterval}
	if o.PasswordFile != "" {
		pf, err := auth.OpenPasswordFile(o.PasswordFile, opt)
		if err != nil {
			return nil, fmt.Errorf("password file: %w", err)
		}
		go func() { _ = pf.Run(ctx) }()
		cfg.Passwords = pf
	}
	if o.ACLFile != "" {
		af, err := auth.OpenACLFile(o.ACLFile, opt)
		if err != nil {
			return nil, fmt.Errorf("acl file: %w", err)
		}
		go func() { _ = af.Run(ctx) }()
		cfg.ACL = af
	}
	return FileAuth{A: auth.New(cfg)}, nil
}
