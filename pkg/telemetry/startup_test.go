package telemetry

import (
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckListen(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	tests := []struct {
		name    string
		addr    string
		wantErr error
		anyErr  bool
	}{
		{"free port", "127.0.0.1:0", nil, false},
		{"disabled", "", nil, false},
		{"in use", held.Addr().String(), ErrAddrInUse, true},
		{"malformed", "127.0.0.1:notaport", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckListen(tt.addr)
			if (err != nil) != tt.anyErr {
				t.Fatalf("err %v, want error %v", err, tt.anyErr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCheckWritableDir(t *testing.T) {
	base := t.TempDir()
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantErr bool
	}{
		{"existing", base, false},
		{"created", filepath.Join(base, "a", "b"), false},
		{"a file", file, true},
		{"under a file", filepath.Join(file, "x"), true},
	}
	if os.Geteuid() != 0 { // root writes through mode bits
		tests = append(tests, struct {
			name    string
			dir     string
			wantErr bool
		}{"read-only", ro, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckWritableDir(tt.dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				left, _ := filepath.Glob(filepath.Join(tt.dir, ".write-check-*"))
				if len(left) != 0 {
					t.Fatalf("check left files behind: %v", left)
				}
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantAddr string
		wantN    int
		wantErr  bool
	}{
		{"defaults", nil, nil, ":1883", 1000, false},
		{"env sets", nil, map[string]string{"TIDEMARK_MQTT_ADDR": ":1", "TIDEMARK_MAX_QUEUED": "5"}, ":1", 5, false},
		{"flag beats env", []string{"--mqtt-addr=:2"}, map[string]string{"TIDEMARK_MQTT_ADDR": ":1"}, ":2", 1000, false},
		{"bad env value", nil, map[string]string{"TIDEMARK_MAX_QUEUED": "many"}, ":1883", 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			addr := fs.String("mqtt-addr", ":1883", "")
			n := fs.Int("max-queued", 1000, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := ApplyEnv(fs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return // the main exits; values are unspecified
			}
			if *addr != tt.wantAddr || *n != tt.wantN {
				t.Fatalf("got %q %d, want %q %d", *addr, *n, tt.wantAddr, tt.wantN)
			}
		})
	}
}
