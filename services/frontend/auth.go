package frontend

import (
	"context"
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
}

// Authorizer is the single plug-in point for authentication and
// authorization: every CONNECT, SUBSCRIBE filter and PUBLISH passes through
// it. Implementations must be safe for concurrent use and fast: they run on
// the connection's reader goroutine.
type Authorizer interface {
	// Connect returns nil to accept, ErrBadCredentials or ErrNotAuthorized
	// (or an error wrapping them) to refuse with the matching CONNACK code.
	Connect(ctx context.Context, c ConnectInfo) error
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

// AllowAll is the default Authorizer: it accepts everything.
type AllowAll struct{}

// Connect accepts every client.
func (AllowAll) Connect(context.Context, ConnectInfo) error { return nil }

// Subscribe allows every filter.
func (AllowAll) Subscribe(context.Context, ClientInfo, string) bool { return true }

// Publish allows every topic.
func (AllowAll) Publish(context.Context, ClientInfo, string) bool { return true }
