package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
)

// ClientInfo describes an authenticated client for authorization decisions.
type ClientInfo struct {
	ClientID string
	Username string
	Peer     net.Addr
	// Protocol is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5.
	Protocol byte
}

// ConnectInfo is what an Authorizer sees of a CONNECT.
type ConnectInfo struct {
	ClientInfo
	Password    []byte
	HasPassword bool
	// TLS is the connection's TLS state on TLS and WSS listeners (client
	// certificates), nil otherwise.
	TLS *tls.ConnectionState
}

// Authorizer is the single plug-in point for authentication and
// authorization: every CONNECT, SUBSCRIBE filter and PUBLISH passes through
// it. Implementations must be safe for concurrent use and fast: they run on
// the connection's reader goroutine.
type Authorizer interface {
	// Connect returns the user name the client is known by from now on
	// (e.g. from its certificate; usually c.Username) to accept, or
	// ErrBadCredentials or ErrNotAuthorized (or an error wrapping them) to
	// refuse with the matching CONNACK code.
	Connect(ctx context.Context, c ConnectInfo) (username string, err error)
	// Subscribe reports whether c may subscribe to filter.
	Subscribe(ctx context.Context, c ClientInfo, filter string) bool
	// Publish reports whether c may publish to topic.
	Publish(ctx context.Context, c ClientInfo, topic string) bool
}

// Authorizer verdicts that map to CONNACK codes (3.1.1: 0x04 / 0x05;
// MQTT 5: 0x86 / 0x87).
var (
	ErrBadCredentials = errors.New("bad user name or password")
	ErrNotAuthorized  = errors.New("not authorized")
)

// ReadChecker is an optional extension of Authorizer: when implemented,
// every message is checked before it is delivered to a client (live,
// replayed or retained), for rule sets where a subscription may cover
// topics the client must not read.
type ReadChecker interface {
	Read(ctx context.Context, c ClientInfo, topic string) bool
}

// AllowAll is the default Authorizer: it accepts everything.
type AllowAll struct{}

// Connect accepts every client as who it says it is.
func (AllowAll) Connect(_ context.Context, c ConnectInfo) (string, error) { return c.Username, nil }

// Subscribe allows every filter.
func (AllowAll) Subscribe(context.Context, ClientInfo, string) bool { return true }

// Publish allows every topic.
func (AllowAll) Publish(context.Context, ClientInfo, string) bool { return true }
