package kafkalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/tlsfiles/tlstest"
)

func TestOptionsCluster(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "kafka ca")
	pw, caFile := filepath.Join(dir, "password"), filepath.Join(dir, "ca.crt")
	for name, b := range map[string][]byte{pw: []byte("s3cret\n"), caFile: ca.PEM} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		opt       kafkalog.Options
		wantErr   bool
		tls       bool
		mechanism string
	}{
		{"plaintext", kafkalog.Options{Brokers: "a:9092, b:9092"}, false, false, ""},
		{"no brokers", kafkalog.Options{Brokers: " , "}, true, false, ""},
		{"tls with system roots", kafkalog.Options{Brokers: "a:9093", TLS: true}, false, true, ""},
		{"ca implies tls", kafkalog.Options{Brokers: "a:9093", TLSCA: caFile}, false, true, ""},
		{"certificate without key", kafkalog.Options{Brokers: "a:9093", TLSCert: caFile}, true, false, ""},
		{"scram-sha-512", kafkalog.Options{Brokers: "a:9096", TLS: true, SASLMechanism: "scram-sha-512", SASLUsername: "u", SASLPasswordFile: pw}, false, true, "SCRAM-SHA-512"},
		{"scram-sha-256", kafkalog.Options{Brokers: "a:9096", SASLMechanism: "SCRAM-SHA-256", SASLUsername: "u", SASLPasswordFile: pw}, false, false, "SCRAM-SHA-256"},
		{"plain", kafkalog.Options{Brokers: "a:9096", SASLMechanism: "plain", SASLUsername: "u", SASLPasswordFile: pw}, false, false, "PLAIN"},
		{"none", kafkalog.Options{Brokers: "a:9092", SASLMechanism: "none", SASLUsername: "ignored"}, false, false, ""},
		{"unknown mechanism", kafkalog.Options{Brokers: "a:9096", SASLMechanism: "gssapi", SASLUsername: "u", SASLPasswordFile: pw}, true, false, ""},
		{"sasl without user", kafkalog.Options{Brokers: "a:9096", SASLMechanism: "plain", SASLPasswordFile: pw}, true, false, ""},
		{"unreadable password file", kafkalog.Options{Brokers: "a:9096", SASLMechanism: "plain", SASLUsername: "u", SASLPasswordFile: filepath.Join(dir, "none")}, true, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.opt.Cluster(nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Cluster: %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if errors.Is(err, kafkalog.ErrOptions) || errors.Is(err, os.ErrNotExist) {
					return
				}
				t.Fatalf("error %v is neither ErrOptions nor a file error", err)
			}
			if (c.TLS != nil) != tc.tls {
				t.Errorf("tls %v, want %v", c.TLS != nil, tc.tls)
			}
			got := ""
			if c.SASL != nil {
				got = c.SASL.Name()
			}
			if got != tc.mechanism {
				t.Errorf("mechanism %q, want %q", got, tc.mechanism)
			}
		})
	}
}
