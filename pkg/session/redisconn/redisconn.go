// Package redisconn builds the Redis client of the session view from
// flags and TIDEMARK_* variables: one server, a Redis Cluster, or a
// Sentinel-managed primary, with ACL user and password (from files) and
// TLS. Every binary registers the same flags, so they cannot drift apart.
package redisconn

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/tlsfiles"
)

// Options describe how to reach Redis: paths to files, never the secrets
// themselves.
type Options struct {
	// Addrs is a comma list: the server, the cluster's seed nodes, or
	// the Sentinels (with MasterName).
	Addrs string
	// Cluster selects Redis Cluster even with one seed address (a managed
	// service's configuration endpoint).
	Cluster bool
	// MasterName selects Sentinel: the name of the primary the Sentinels
	// at Addrs watch.
	MasterName string
	// Username and PasswordFile authenticate (Redis ACL; an empty
	// Username is the default user). The file is read at every new
	// connection, so a rotated Secret is picked up without a restart.
	Username, PasswordFile string
	// SentinelUsername and SentinelPasswordFile authenticate to the
	// Sentinels, when they require it.
	SentinelUsername, SentinelPasswordFile string
	// TLS turns on TLS; TLSCA, TLSCert and TLSKey (PEM files) imply it.
	TLS                                   bool
	TLSCA, TLSCert, TLSKey, TLSServerName string
}

// Flags registers --redis and the --redis-* connection flags on fs.
func Flags(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.Addrs, "redis", "127.0.0.1:6379", "Redis address (host:port); for a cluster its seed nodes, with --redis-master-name the Sentinels (comma separated)")
	fs.BoolVar(&o.Cluster, "redis-cluster", false, "Redis Cluster (implied by several --redis addresses without --redis-master-name)")
	fs.StringVar(&o.MasterName, "redis-master-name", "", "Redis Sentinel: name of the primary the Sentinels at --redis watch")
	fs.StringVar(&o.Username, "redis-username", "", "Redis ACL user (empty: the default user)")
	fs.StringVar(&o.PasswordFile, "redis-password-file", "", "file holding the Redis password (read at every new connection)")
	fs.StringVar(&o.SentinelUsername, "redis-sentinel-username", "", "Redis Sentinel ACL user")
	fs.StringVar(&o.SentinelPasswordFile, "redis-sentinel-password-file", "", "file holding the Redis Sentinel password")
	fs.BoolVar(&o.TLS, "redis-tls", false, "connect to Redis over TLS (implied by the other --redis-tls-* flags)")
	fs.StringVar(&o.TLSCA, "redis-tls-ca", "", "PEM CA file that signed the Redis server certificates (default: the system roots)")
	fs.StringVar(&o.TLSCert, "redis-tls-cert", "", "PEM client certificate file for Redis (mutual TLS; reloaded when it changes)")
	fs.StringVar(&o.TLSKey, "redis-tls-key", "", "PEM private key file of --redis-tls-cert")
	fs.StringVar(&o.TLSServerName, "redis-tls-server-name", "", "name to verify in the Redis certificates (default: the host dialled)")
	return o
}

// ErrOptions is wrapped for settings that cannot work.
var ErrOptions = errors.New("invalid redis options")

// Client checks o and returns a client: a Sentinel failover client with
// MasterName, a cluster client with Cluster or several addresses, else a
// client of one server. log receives reloads of the TLS client
// certificate.
func (o Options) Client(log *slog.Logger) (redis.UniversalClient, error) {
	u := &redis.UniversalOptions{IsClusterMode: o.Cluster, MasterName: o.MasterName, Username: o.Username, SentinelUsername: o.SentinelUsername}
	for a := range strings.SplitSeq(o.Addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			u.Addrs = append(u.Addrs, a)
		}
	}
	if len(u.Addrs) == 0 {
		return nil, fmt.Errorf("%w: no address", ErrOptions)
	}
	if o.Cluster && o.MasterName != "" {
		return nil, fmt.Errorf("%w: --redis-cluster and --redis-master-name exclude each other", ErrOptions)
	}
	if o.PasswordFile != "" {
		if _, err := tlsfiles.ReadSecret(o.PasswordFile); err != nil {
			return nil, fmt.Errorf("redis password: %w", err)
		}
		user, path := o.Username, o.PasswordFile
		u.CredentialsProviderContext = func(context.Context) (string, string, error) {
			pass, err := tlsfiles.ReadSecret(path)
			return user, pass, err
		}
	}
	if o.SentinelPasswordFile != "" {
		// go-redis takes the Sentinel password as a value only: read once.
		pass, err := tlsfiles.ReadSecret(o.SentinelPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel password: %w", err)
		}
		u.SentinelPassword = pass
	}
	if o.TLS || o.TLSCA != "" || o.TLSCert != "" || o.TLSKey != "" || o.TLSServerName != "" {
		if (o.TLSCert == "") != (o.TLSKey == "") {
			return nil, fmt.Errorf("%w: --redis-tls-cert and --redis-tls-key go together", ErrOptions)
		}
		cfg, err := tlsfiles.Client(tlsfiles.Files{CA: o.TLSCA, Cert: o.TLSCert, Key: o.TLSKey, ServerName: o.TLSServerName}, log)
		if err != nil {
			return nil, fmt.Errorf("redis tls: %w", err)
		}
		u.TLSConfig = cfg
	}
	return redis.NewUniversalClient(u), nil
}

// String describes the options for logs, without secrets.
func (o Options) String() string {
	s := o.Addrs
	switch {
	case o.MasterName != "":
		s += " sentinel " + o.MasterName
	case o.Cluster || strings.Contains(o.Addrs, ","):
		s += " cluster"
	}
	if o.TLS || o.TLSCA != "" || o.TLSCert != "" {
		s += " tls"
	}
	if o.Username != "" {
		s += " user " + o.Username
	}
	return s
}
