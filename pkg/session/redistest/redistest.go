// Package redistest gives integration tests the Redis servers of the test
// stack and a private key prefix, so tests running at the same time never
// see each other's keys: the plain Redis (TIDEMARK_REDIS), the three-node
// Redis Cluster (TIDEMARK_REDIS_CLUSTER_NODES) and the password-protected
// TLS Redis (TIDEMARK_REDIS_TLS_ADDR, its CA and credentials in
// TIDEMARK_REDIS_TLS_DIR). A missing server skips the test, or fails it
// when TIDEMARK_REQUIRE_STACK=1 says the stack must be there.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
)

// lookup returns the variable name's value and checks that the first
// address in it answers; it skips or fails the test otherwise.
func lookup(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	require := os.Getenv("TIDEMARK_REQUIRE_STACK") == "1"
	if v == "" {
		if require {
			t.Fatalf("%s is unset but TIDEMARK_REQUIRE_STACK=1", name)
		}
		t.Skipf("%s unset: run `make test` to run against the test stack", name)
	}
	addr, _, _ := strings.Cut(v, ",")
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		if require {
			t.Fatalf("redis at %s (%s) unreachable: %v", addr, name, err)
		}
		t.Skipf("redis at %s (%s) unreachable (%v): run `make test`", addr, name, err)
	}
	c.Close()
	return v
}

// Addr returns TIDEMARK_REDIS.
func Addr(t testing.TB) string {
	t.Helper()
	return lookup(t, "TIDEMARK_REDIS")
}

// Client returns a client for Addr, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr(t)})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// ClusterOptions are the connection options of the test stack's Redis
// Cluster, as a binary's --redis flags would give them.
func ClusterOptions(t testing.TB) redisconn.Options {
	t.Helper()
	return redisconn.Options{Addrs: lookup(t, "TIDEMARK_REDIS_CLUSTER_NODES"), Cluster: true}
}

// TLSOptions are the connection options of the test stack's TLS Redis
// with its ACL user: files from TIDEMARK_REDIS_TLS_DIR (ca.crt, username,
// password).
func TLSOptions(t testing.TB) redisconn.Options {
	t.Helper()
	addr := lookup(t, "TIDEMARK_REDIS_TLS_ADDR")
	dir := os.Getenv("TIDEMARK_REDIS_TLS_DIR")
	user, err := os.ReadFile(filepath.Join(dir, "username"))
	if err != nil {
		t.Fatalf("TIDEMARK_REDIS_TLS_DIR: %v", err)
	}
	return redisconn.Options{Addrs: addr, Username: strings.TrimSpace(string(user)),
		PasswordFile: filepath.Join(dir, "password"), TLSCA: filepath.Join(dir, "ca.crt")}
}

// Connect returns a client built from o by the binaries' own code, closed
// when the test ends.
func Connect(t testing.TB, o redisconn.Options) redis.UniversalClient {
	t.Helper()
	rdb, err := o.Client(nil)
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis %s: %v", o.String(), err)
	}
	return rdb
}

// Backend is one kind of Redis deployment the session view runs on.
type Backend struct {
	Name   string
	Client func(testing.TB) redis.UniversalClient
}

// Backends are the test stack's Redis deployments: one server, a
// three-node cluster, and a TLS server with an ACL user and password.
func Backends() []Backend {
	return []Backend{
		{"redis", func(t testing.TB) redis.UniversalClient { return Client(t) }},
		{"cluster", func(t testing.TB) redis.UniversalClient { return Connect(t, ClusterOptions(t)) }},
		{"tls", func(t testing.TB) redis.UniversalClient { return Connect(t, TLSOptions(t)) }},
	}
}

// Prefix returns a key prefix unique to this test run, and deletes every
// key under it when the test ends.
func Prefix(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "t." + hex.EncodeToString(b[:]) + "."
	t.Cleanup(func() { Flush(context.Background(), rdb, prefix) })
	return prefix
}

// Keys lists every key under prefix, on every primary of a cluster.
func Keys(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]string, error) {
	var mu sync.Mutex // a cluster's primaries are scanned at the same time
	var out []string
	err := eachPrimary(ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for i := 0; i < 100000; i++ {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 500).Result()
			if err != nil {
				return err
			}
			mu.Lock()
			out = append(out, keys...)
			mu.Unlock()
			if cursor = next; cursor == 0 {
				return nil
			}
		}
		return nil
	})
	return out, err
}

// Flush deletes every key under prefix (a test's "wipe Redis").
func Flush(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	keys, err := Keys(ctx, rdb, prefix)
	if err != nil {
		return err
	}
	// One DEL per key: a cluster refuses a DEL across slots.
	for _, k := range keys {
		if err := rdb.Del(ctx, k).Err(); err != nil {
			return err
		}
	}
	return nil
}

func eachPrimary(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return fmt.Errorf("redistest: cannot list the keys of a %T", rdb)
}
