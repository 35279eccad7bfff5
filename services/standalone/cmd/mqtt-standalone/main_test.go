package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/startup"
	"github.com/tidemarkmq/tidemark/services/admin"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

// Bad start-up input must give one line naming the problem and exit 1,
// before anything starts.
func TestStartupErrors(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
		code int
	}{
		{"mqtt port in use", []string{"--mqtt-addr=" + held.Addr().String(), "--ws-addr=", "--http-addr=", "--data-dir=" + t.TempDir()}, nil, "--mqtt-addr", 1},
		{"http port in use via env", []string{"--mqtt-addr=", "--ws-addr=", "--data-dir=" + t.TempDir()}, map[string]string{"TIDEMARK_HTTP_ADDR": held.Addr().String()}, "--http-addr", 1},
		{"data dir is a file", []string{"--mqtt-addr=", "--ws-addr=", "--http-addr=", "--data-dir=" + file}, nil, "--data-dir", 1},
		{"kafka not loopback", []string{"--mqtt-addr=", "--ws-addr=", "--http-addr=", "--kafka-addr=0.0.0.0:0", "--data-dir=" + t.TempDir()}, nil, "--kafka-addr", 1},
		{"bad log level", []string{"--log-level=loud"}, nil, "--log-level", 1},
		{"bad otlp endpoint", []string{"--otlp-endpoint=localhost:4318"}, nil, "--otlp-endpoint", 1},
		{"bad env value", nil, map[string]string{"TIDEMARK_MAX_QUEUED": "lots"}, "TIDEMARK_MAX_QUEUED", 1},
		{"unknown flag", []string{"--nope"}, nil, "nope", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			// A case that wrongly starts the broker ends with ctx.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			code := run(ctx, tt.args, &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errOut.String())
			}
			msg := errOut.String()
			if !strings.Contains(msg, tt.want) {
				t.Fatalf("stderr %q does not name %q", msg, tt.want)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Fatalf("want one line, got %q", msg)
			}
		})
	}
}

// TestHelpListsEveryServiceFlag: the standalone broker takes the flags of
// the frontend, the session service and the admin API, and the ones they
// share, from their one definition each; --help lists every one of them.
func TestHelpListsEveryServiceFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, io.Discard, &out); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	fs := flag.NewFlagSet("sets", flag.ContinueOnError)
	startup.CommonFlags(fs, "")
	frontend.RegisterFlags(fs)
	sessiond.RegisterFlags(fs)
	admin.RegisterFlags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(out.String(), "  -"+f.Name+" ") && !strings.Contains(out.String(), "  -"+f.Name+"\n") {
			t.Errorf("--help does not list --%s", f.Name)
		}
	})
	if n < 40 || !strings.Contains(out.String(), "-max-keepalive") {
		t.Fatalf("%d shared flags, --help:\n%s", n, out.String())
	}
}
