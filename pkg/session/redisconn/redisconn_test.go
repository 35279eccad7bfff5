package redisconn_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/session/redisconn"
)

func TestOptionsClient(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opt     redisconn.Options
		wantErr bool
		cluster bool
	}{
		{"one server", redisconn.Options{Addrs: "r:6379"}, false, false},
		{"cluster from several seeds", redisconn.Options{Addrs: "a:6379,b:6379"}, false, true},
		{"cluster from one endpoint", redisconn.Options{Addrs: "cfg:6379", Cluster: true}, false, true},
		{"sentinel", redisconn.Options{Addrs: "s1:26379,s2:26379", MasterName: "mymaster"}, false, false},
		{"acl user, password file and tls", redisconn.Options{Addrs: "r:6380", Username: "u", PasswordFile: pw, TLS: true}, false, false},
		{"no address", redisconn.Options{Addrs: " "}, true, false},
		{"cluster and sentinel", redisconn.Options{Addrs: "a:1", Cluster: true, MasterName: "m"}, true, false},
		{"missing password file", redisconn.Options{Addrs: "r:1", PasswordFile: pw + ".none"}, true, false},
		{"certificate without key", redisconn.Options{Addrs: "r:1", TLSCert: pw}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rdb, err := tc.opt.Client(nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Client: %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, redisconn.ErrOptions) && !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("error %v is neither ErrOptions nor a file error", err)
				}
				return
			}
			defer rdb.Close()
			if _, isCluster := rdb.(*redis.ClusterClient); isCluster != tc.cluster {
				t.Errorf("client %T, want cluster %v", rdb, tc.cluster)
			}
		})
	}
}
