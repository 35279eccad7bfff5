package admin

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// OpenAPI is the API's OpenAPI 3.1 document, served at
// /api/v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Route is one endpoint: what it answers and what it needs.
type Route struct {
	Method, Path string
	// Role is what the token must allow.
	Role auth.Role
	h    func(s *Server, r *http.Request, tok auth.Token) reply
}

// reply is a handler's answer: a status and a body to encode as JSON
// (raw bytes are sent as they are, as YAML).
type reply struct {
	status int
	body   any
}

func ok(body any) reply { return reply{http.StatusOK, body} }

// fail answers with an error document.
func fail(status int, format string, args ...any) reply {
	return reply{status, adminapi.Error{Error: fmt.Sprintf(format, args...)}}
}

// failErr answers an error from Kafka or Redis: 503 when either cannot
// be reached (or did not answer in time), else 500.
func failErr(step string, err error) reply {
	var ne net.Error
	if errors.Is(err, kafkalog.ErrUnavailable) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return fail(http.StatusServiceUnavailable, "%s: %v", step, err)
	}
	return fail(http.StatusInternalServerError, "%s: %v", step, err)
}

// Routes lists every endpoint the API serves; the OpenAPI test holds the
// document against it.
func Routes() []Route {
	b := adminapi.Base
	return []Route{
		{"GET", b + "/openapi.yaml", auth.RoleRead, (*Server).openAPI},
		{"GET", b + "/sessions", auth.RoleRead, (*Server).listSessions},
		{"GET", b + "/sessions/{clientid}", auth.RoleRead, (*Server).showSession},
		{"GET", b + "/sessions/{clientid}/history", auth.RoleRead, (*Server).history},
		{"GET", b + "/sessions/{clientid}/explain", auth.RoleRead, (*Server).explain},
		{"POST", b + "/sessions/{clientid}/disconnect", auth.RoleAdmin, (*Server).disconnect},
		{"DELETE", b + "/sessions/{clientid}", auth.RoleAdmin, (*Server).discard},
		{"DELETE", b + "/sessions/{clientid}/subscriptions", auth.RoleAdmin, (*Server).unsubscribe},
		{"POST", b + "/publish", auth.RoleAdmin, (*Server).publish},
		{"GET", b + "/retained", auth.RoleRead, (*Server).listRetained},
		{"DELETE", b + "/retained", auth.RoleAdmin, (*Server).deleteRetained},
		{"GET", b + "/nodes", auth.RoleRead, (*Server).listNodes},
	}
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			s.serve(w, r, rt)
		})
	}
	// Anything else under the API is a JSON 404, not the mux's text one.
	mux.HandleFunc(adminapi.Base+"/", func(w http.ResponseWriter, r *http.Request) {
		s.write(w, r, fail(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// serve authenticates, authorizes, runs the handler and writes its reply.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt Route) {
	// The scheme is case-insensitive (RFC 9110, 11.1).
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok, known := auth.Token{}, false
	if strings.EqualFold(scheme, "Bearer") && secret != "" {
		tok, known = s.cfg.Tokens.Lookup(strings.TrimSpace(secret))
	}
	var rep reply
	switch {
	case !known:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tidemark-admin"`)
		rep = fail(http.StatusUnauthorized, "a valid bearer token is required")
	case !tok.Role.Allows(rt.Role):
		s.log.Warn("admin request refused", "operator", tok.Name, "role", tok.Role.String(), "method", r.Method, "path", r.URL.Path)
		rep = fail(http.StatusForbidden, "token %q has role %s; %s %s needs %s", tok.Name, tok.Role, rt.Method, rt.Path, rt.Role)
	default:
		rep = rt.h(s, r, tok)
		s.log.Debug("admin request", "operator", tok.Name, "method", r.Method, "path", r.URL.Path, "status", rep.status)
	}
	s.met.requests.WithLabelValues(rt.Method+" "+rt.Path, strconv.Itoa(rep.status)).Inc()
	s.write(w, r, rep)
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, rep reply) {
	if b, ok := rep.body.([]byte); ok {
		w.Header().Set("Content-Type", "application/yaml")
		w.WriteHeader(rep.status)
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep.body); err != nil {
		s.log.Debug("admin response not written", "path", r.URL.Path, "err", err)
	}
}

func (s *Server) openAPI(*http.Request, auth.Token) reply { return ok(OpenAPI) }

// pageParams reads the paging parameters of a listing: limit (default
// 100, 1 to adminapi.MaxLimit) and the cursor of kind.
func pageParams(r *http.Request, kind string) (int, cursor, *reply) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminapi.MaxLimit {
			rep := fail(http.StatusBadRequest, "limit must be a whole number from 1 to %d, got %q", adminapi.MaxLimit, v)
			return 0, cursor{}, &rep
		}
		limit = n
	}
	cur, err := decodeCursor(q.Get("cursor"), kind)
	if err != nil {
		rep := fail(http.StatusBadRequest, "%v", err)
		return 0, cursor{}, &rep
	}
	return limit, cur, nil
}
