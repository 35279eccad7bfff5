package frontend

import (
	"context"
	"errors"
	"fmt"

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
