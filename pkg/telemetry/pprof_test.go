package telemetry

import (
	"context"
	"strings"
	"testing"
)

// The profiles are served only when asked for.
func TestPprof(t *testing.T) {
	for _, tc := range []struct {
		name   string
		enable bool
		status int
	}{
		{"off by default", false, 404},
		{"on", true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewHTTPServer("127.0.0.1:0", nil)
			if tc.enable {
				s.EnablePprof()
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			base := "http://" + s.Addr().String()
			code, body := get(t, base+"/debug/pprof/heap?debug=1")
			if code != tc.status {
				t.Fatalf("heap profile: status %d, want %d", code, tc.status)
			}
			if tc.enable && !strings.Contains(body, "heap profile") {
				t.Fatalf("heap profile body does not look like one: %.80q", body)
			}
			if code, _ := get(t, base+"/healthz"); code != 200 {
				t.Fatalf("healthz: status %d", code)
			}
		})
	}
}
