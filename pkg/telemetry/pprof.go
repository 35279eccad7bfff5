package telemetry

import (
	"net/http/pprof"
)

// EnablePprof adds the runtime profiles of net/http/pprof under
// /debug/pprof/ (CPU, heap, goroutines, ...). Call it before Start. It is
// off unless a binary's --pprof flag asks for it: a CPU profile costs the
// process while it runs, and the profiles reveal internals, so the HTTP
// address must not be reachable by untrusted clients when it is on.
func (s *HTTPServer) EnablePprof() {
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
