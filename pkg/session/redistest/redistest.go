// Package redistest gives integration tests the shared Redis and a private
// key prefix, so tests running at the same time never see each other's
// keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr returns TIDEMARK_REDIS. It skips the test when unset or
// unreachable, or fails when TIDEMARK_REQUIRE_STACK=1 says the stack must
// be there.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("TIDEMARK_REDIS")
	require := os.Getenv("TIDEMARK_REQUIRE_STACK") == "1"
	if addr == "" {
		if require {
			t.Fatal("TIDEMARK_REDIS is unset but TIDEMARK_REQUIRE_STACK=1")
		}
		t.Skip("TIDEMARK_REDIS unset: run `make test` to run against the test stack")
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		if require {
			t.Fatalf("redis at %s unreachable: %v", addr, err)
		}
		t.Skipf("redis at %s unreachable (%v): run `make test`", addr, err)
	}
	c.Close()
	return addr
}

// Client returns a client for Addr, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr(t)})
	t.Cleanup(func() { rdb.Close() })
	return rdb
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

// Flush deletes every key under prefix (a test's "wipe Redis").
func Flush(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	var cursor uint64
	for i := 0; i < 100000; i++ {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 500).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		cursor = next
		if cursor == 0 {
			return nil
		}
	}
	return nil
}
