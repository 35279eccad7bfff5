package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func TestHTTPServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: "tidemark_test_hits_total", Help: "test"})
	reg.MustRegister(hits)
	hits.Add(3)

	var redisUp, kafkaUp atomic.Bool
	s := NewHTTPServer("127.0.0.1:0", reg,
		Check{Name: "redis", Fn: func(context.Context) error {
			if redisUp.Load() {
				return nil
			}
			return errors.New("connection refused")
		}},
		ReadyCheck("kafka", kafkaUp.Load),
	)
	if s.Addr() != nil {
		t.Fatal("address before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr().String()

	tests := []struct {
		name        string
		redis, kafk bool
		path        string
		wantCode    int
		wantBody    []string
		notBody     []string
	}{
		{"healthz while not ready", false, false, "/healthz", 200, []string{"ok"}, nil},
		{"readyz lists both", false, false, "/readyz", 503, []string{"redis: connection refused", "kafka: not ready"}, nil},
		{"readyz lists only failing", true, false, "/readyz", 503, []string{"kafka: not ready"}, []string{"redis"}},
		{"readyz ok", true, true, "/readyz", 200, []string{"ok"}, nil},
		{"metrics", true, true, "/metrics", 200, []string{"tidemark_test_hits_total 3"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redisUp.Store(tt.redis)
			kafkaUp.Store(tt.kafk)
			code, body := get(t, base+tt.path)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d; body %q", code, tt.wantCode, body)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body %q lacks %q", body, w)
				}
			}
			for _, w := range tt.notBody {
				if strings.Contains(body, w) {
					t.Errorf("body %q has %q", body, w)
				}
			}
		})
	}

	// A check added later counts, and a hung check fails within the bound.
	s.AddCheck(Check{Name: "hung", Fn: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	start := time.Now()
	code, body := get(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, "hung: context deadline exceeded") {
		t.Fatalf("hung check: %d %q", code, body)
	}
	if d := time.Since(start); d > checkTimeout+time.Second {
		t.Fatalf("readyz took %s", d)
	}

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answers after Shutdown")
	}
}

func TestHTTPServerPortInUse(t *testing.T) {
	a := NewHTTPServer("127.0.0.1:0", nil)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown(context.Background())
	b := NewHTTPServer(a.Addr().String(), nil)
	if err := b.Start(); err == nil {
		b.Shutdown(context.Background())
		t.Fatal("second server bound the same port")
	}
}

// TestReadyMetric: tidemark_ready follows the readiness checks, so an
// alert sees what /readyz says.
func TestReadyMetric(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want float64
	}{{"passing", nil, 1}, {"failing", errors.New("down"), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			NewHTTPServer("127.0.0.1:0", reg, Check{Name: "dep", Fn: func(context.Context) error { return tc.err }})
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "tidemark_ready" {
					if got := mf.GetMetric()[0].GetGauge().GetValue(); got != tc.want {
						t.Fatalf("tidemark_ready = %v, want %v", got, tc.want)
					}
					return
				}
			}
			t.Fatal("tidemark_ready not registered")
		})
	}
}
