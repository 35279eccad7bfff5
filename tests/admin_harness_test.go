package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/services/admin"
)

// Tokens of the admin API in these tests.
const (
	adminSecret = "e2e-admin-secret-0123456789"
	readSecret  = "e2e-read-secret-0123456789"
)

// adminAPI is an admin API server of a cluster, with clients holding the
// admin token and the read token. Every response either client gets is
// checked against the OpenAPI document.
type adminAPI struct {
	srv         *admin.Server
	addr        string
	admin, read *adminapi.Client
	check       *openAPICheck
}

// adminOptions tune the admin API of a test.
type adminOptions struct {
	aclFile      string
	applyTimeout time.Duration
	// check, when set, is shared with another server of the test, so one
	// record holds what both served.
	check *openAPICheck
	// unreachable points the server at a Kafka and a Redis that refuse
	// connections.
	unreachable bool
}

// startAdmin serves the admin API over the cluster's topics and view.
func (c *cluster) startAdmin(opt adminOptions) *adminAPI {
	c.t.Helper()
	dir := c.t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	body := fmt.Sprintf("# e2e\nops admin %s\nviewer read %s\n", adminSecret, readSecret)
	if err := os.WriteFile(tokens, []byte(body), 0o600); err != nil {
		c.t.Fatal(err)
	}
	cfg := admin.Config{
		Addr: "127.0.0.1:0", Node: "admin-0", Kafka: c.kafka, Redis: c.rdb, KeyPrefix: c.prefix, Topics: c.topics,
		TokenFile: tokens, ACLFile: opt.aclFile, ApplyTimeout: opt.applyTimeout,
		Logger: c.log.With("svc", "admin"), Registry: prometheus.NewRegistry(),
	}
	if opt.unreachable {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
		c.t.Cleanup(func() { rdb.Close() })
		cfg.Kafka, cfg.Redis, cfg.AppendTimeout = kafkalog.Plain("127.0.0.1:1"), rdb, time.Second
		cfg.Logger = testLogger().With("svc", "admin-unreachable")
	}
	srv, err := admin.New(cfg)
	if err != nil {
		c.t.Fatalf("admin api: %v", err)
	}
	if err := srv.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	a := &adminAPI{srv: srv, addr: srv.Addr().String(), check: opt.check}
	if a.check == nil {
		a.check = newOpenAPICheck(c.t)
	}
	hc := &http.Client{Timeout: waitFor, Transport: a.check}
	a.admin = adminapi.NewClient(a.addr, adminSecret, hc)
	a.read = adminapi.NewClient(a.addr, readSecret, hc)
	return a
}

// raw sends a request with the given token ("" for none) through the
// checking transport and returns the status and the body.
func (a *adminAPI) raw(t *testing.T, method, path, token string, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+a.addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: waitFor, Transport: a.check}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// openAPICheck is an http.RoundTripper that validates every response
// (and the request of every success) against the OpenAPI document, and
// records which route answered which status.
type openAPICheck struct {
	t   *testing.T
	v   validator.Validator
	mux *http.ServeMux

	mu   sync.Mutex
	seen map[string]bool // "METHOD /path/{pattern} status"
	errs []string
}

func newOpenAPICheck(t *testing.T) *openAPICheck {
	t.Helper()
	doc, err := libopenapi.NewDocument(admin.OpenAPI)
	if err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("openapi.yaml: %v", errs)
	}
	ck := &openAPICheck{t: t, v: v, mux: http.NewServeMux(), seen: map[string]bool{}}
	for _, rt := range admin.Routes() {
		ck.mux.HandleFunc(rt.Method+" "+rt.Path, func(http.ResponseWriter, *http.Request) {})
	}
	t.Cleanup(func() {
		ck.mu.Lock()
		defer ck.mu.Unlock()
		for _, e := range ck.errs {
			t.Error(e)
		}
	})
	return ck
}

func (ck *openAPICheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	_, pattern := ck.mux.Handler(req)
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	vres := *res
	vres.Body = io.NopCloser(bytes.NewReader(body))
	var problems []string
	if ok, errs := ck.v.ValidateHttpResponse(vreq, &vres); !ok {
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("response: %s (%s)", e.Message, e.Reason))
		}
	}
	if res.StatusCode/100 == 2 {
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
		if ok, errs := ck.v.ValidateHttpRequest(vreq); !ok {
			for _, e := range errs {
				problems = append(problems, fmt.Sprintf("request: %s (%s)", e.Message, e.Reason))
			}
		}
	}
	if res.StatusCode >= 400 {
		var e adminapi.Error
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			problems = append(problems, "error without a message: "+string(body))
		}
	}
	ck.mu.Lock()
	if pattern != "" {
		ck.seen[fmt.Sprintf("%s %d", pattern, res.StatusCode)] = true
	}
	for _, p := range problems {
		ck.errs = append(ck.errs, fmt.Sprintf("%s %s -> %d: %s", req.Method, req.URL.RequestURI(), res.StatusCode, p))
	}
	ck.mu.Unlock()
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// served lists the "METHOD /path status" seen so far, sorted.
func (ck *openAPICheck) served() []string {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	var out []string
	for k := range ck.seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mqttAdmin runs the command-line tool against the admin API, built once
// per test binary, and returns its standard output; it fails the test
// unless the exit code is want.
func (a *adminAPI) mqttAdmin(t *testing.T, token string, want int, args ...string) string {
	t.Helper()
	bin := adminBinary(t)
	cmd := exec.Command(bin, append([]string{"--addr", a.addr}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TIDEMARK_ADMIN_TOKEN=" + token}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("mqtt-admin %v: %v", args, err)
	}
	if code != want {
		t.Fatalf("mqtt-admin %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out.String(), errb.String())
	}
	return out.String()
}

var (
	adminBinOnce sync.Once
	adminBin     string
	adminBinErr  error
)

func adminBinary(t *testing.T) string {
	t.Helper()
	adminBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mqtt-admin-e2e")
		if err != nil {
			adminBinErr = err
			return
		}
		adminBin = filepath.Join(dir, "mqtt-admin")
		cmd := exec.Command("go", "build", "-o", adminBin, ".")
		cmd.Dir = filepath.Join("..", "tools", "mqtt-admin")
		if b, err := cmd.CombinedOutput(); err != nil {
			adminBinErr = fmt.Errorf("build mqtt-admin: %v\n%s", err, b)
		}
	})
	if adminBinErr != nil {
		t.Fatal(adminBinErr)
	}
	return adminBin
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	wait := 5 * time.Millisecond
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, waitFor, last)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// topicEnds returns the end offsets of every topic of the cluster, to show
// that a request appended nothing.
func (c *cluster) topicEnds(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, tp := range []string{c.topics.Messages, c.topics.Retained, c.topics.Sessions, c.topics.Lifecycle} {
		b, err := kafkalog.TopicBounds(ctx, c.kafka, tp)
		if err != nil {
			t.Fatal(err)
		}
		for p, bd := range b {
			out[fmt.Sprintf("%s/%d", tp, p)] = bd.Next
		}
	}
	return out
}
