package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// checkTimeout bounds one readiness check, so a hung dependency makes
// /readyz fail instead of hang (probes have their own short timeouts).
const checkTimeout = 2 * time.Second

// Check is one readiness condition. Fn returns nil when the condition
// holds; its error text is shown in the /readyz body.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// ErrNotReady is what ReadyCheck's Fn returns while the component is not
// ready.
var ErrNotReady = errors.New("not ready")

// ReadyCheck adapts a component's Ready() bool to a Check.
func ReadyCheck(name string, ready func() bool) Check {
	return Check{Name: name, Fn: func(context.Context) error {
		if ready() {
			return nil
		}
		return ErrNotReady
	}}
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, the base every binary exports.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// HTTPServer serves /healthz (200 while the process can answer at all),
// /readyz (200 only when every check passes; the body names failing
// checks) and /metrics (the given registry).
type HTTPServer struct {
	addr string
	srv  *http.Server
	mux  *http.ServeMux

	mu     sync.Mutex // guards checks and ln
	checks []Check
	ln     net.Listener
	done   chan struct{}
}

// NewHTTPServer returns a server for addr (host:port; port 0 picks a free
// one, see Addr). A nil reg serves an empty registry. It does not listen
// until Start.
func NewHTTPServer(addr string, reg *prometheus.Registry, checks ...Check) *HTTPServer {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &HTTPServer{addr: addr, checks: slices.Clone(checks), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux = mux
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Readiness as a metric too, so an alert sees a pod that stays
	// unready (a refused Kafka password, a lost Redis) without the kubelet.
	_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tidemark_ready",
		Help: "1 when every readiness check passes (/readyz answers 200), else 0.",
	}, func() float64 {
		if len(s.failing(context.Background())) > 0 {
			return 0
		}
		return 1
	}))
	return s
}

// AddCheck adds a readiness check; components created after the server
// register here.
func (s *HTTPServer) AddCheck(c Check) {
	s.mu.Lock()
	s.checks = append(s.checks, c)
	s.mu.Unlock()
}

func (s *HTTPServer) readyz(w http.ResponseWriter, r *http.Request) {
	failing := s.failing(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failing) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Join(failing, "")))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// failing runs the checks and returns one line per failing check.
func (s *HTTPServer) failing(ctx context.Context) []string {
	s.mu.Lock()
	checks := slices.Clone(s.checks)
	s.mu.Unlock()
	// Run checks in parallel so the slowest, not the sum, bounds the probe.
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			errs[i] = c.Fn(ctx)
		})
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v\n", checks[i].Name, err))
		}
	}
	return out
}

// Start binds the address and serves in the background. It returns the
// bind error (for example, the port is in use).
func (s *HTTPServer) Start() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Shutdown
	}()
	return nil
}

// Addr returns the bound address after Start, nil before.
func (s *HTTPServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting, waits for running requests until ctx ends, and
// returns when the server goroutine is gone.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.ln != nil
	s.mu.Unlock()
	if !started {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}
