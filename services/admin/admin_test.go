package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

func testTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	toks, err := auth.ParseTokens([]byte("ops admin admin-secret-0123456789\nviewer read read-secret-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// TestAuthBeforeAnything checks that requests without a valid token, and
// actions with a read token, are refused before any handler runs: the
// server here has no reachable Kafka or Redis, so a handler that ran
// would answer 5xx.
func TestAuthBeforeAnything(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	s, err := New(Config{Addr: "127.0.0.1:0", Kafka: kafkalog.Plain("127.0.0.1:1"), Redis: rdb, Tokens: testTokens(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	cases := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token", "GET", "/api/v1/sessions", "", http.StatusUnauthorized},
		{"not bearer", "GET", "/api/v1/sessions", "Basic read-secret-0123456789", http.StatusUnauthorized},
		{"unknown token", "GET", "/api/v1/sessions/x", "Bearer nope-nope-nope-nope-nope", http.StatusUnauthorized},
		{"read token kicks", "POST", "/api/v1/sessions/x/disconnect", "Bearer read-secret-0123456789", http.StatusForbidden},
		{"read token discards", "DELETE", "/api/v1/sessions/x", "Bearer read-secret-0123456789", http.StatusForbidden},
		{"read token unsubscribes", "DELETE", "/api/v1/sessions/x/subscriptions?filter=a", "Bearer read-secret-0123456789", http.StatusForbidden},
		{"read token publishes", "POST", "/api/v1/publish", "Bearer read-secret-0123456789", http.StatusForbidden},
		{"read token deletes retained", "DELETE", "/api/v1/retained?topic=a", "Bearer read-secret-0123456789", http.StatusForbidden},
		{"read token reads the document", "GET", "/api/v1/openapi.yaml", "Bearer read-secret-0123456789", http.StatusOK},
		{"the scheme in any case", "GET", "/api/v1/openapi.yaml", "bearer read-secret-0123456789", http.StatusOK},
		{"bad limit is checked before any read", "GET", "/api/v1/sessions?limit=1001", "Bearer read-secret-0123456789", http.StatusBadRequest},
		{"bad cursor", "GET", "/api/v1/sessions?cursor=bm90IGpzb24", "Bearer read-secret-0123456789", http.StatusBadRequest},
		{"unknown endpoint", "GET", "/api/v1/nothing", "Bearer read-secret-0123456789", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}"))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if tc.want >= 400 {
				var e adminapi.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("error body %q is not an error document", rec.Body)
				}
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := cursor{Kind: cursorSessions, Part: 3, After: "dev/ü-7"}
	got, err := decodeCursor(c.encode(), cursorSessions)
	if err != nil || got != c {
		t.Fatalf("got %+v %v", got, err)
	}
	bad := []struct{ name, s, kind string }{
		{"not base64", "%%", cursorSessions},
		{"not json", "bm90IGpzb24", cursorSessions},
		{"another listing's", c.encode(), cursorHistory},
		{"negative partition", cursor{Kind: cursorSessions, Part: -1}.encode(), cursorSessions},
	}
	for _, b := range bad {
		if _, err := decodeCursor(b.s, b.kind); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

func TestToPublish(t *testing.T) {
	text, b64 := "hi", "aGk="
	cases := []struct {
		name string
		req  adminapi.PublishRequest
		ok   bool
	}{
		{"text", adminapi.PublishRequest{Topic: "a/b", Payload: &text, QoS: 1}, true},
		{"base64", adminapi.PublishRequest{Topic: "a/b", PayloadBase64: &b64}, true},
		{"both payloads", adminapi.PublishRequest{Topic: "a/b", Payload: &text, PayloadBase64: &b64}, false},
		{"wildcard topic", adminapi.PublishRequest{Topic: "a/#"}, false},
		{"empty topic", adminapi.PublishRequest{}, false},
		{"qos 2", adminapi.PublishRequest{Topic: "a", QoS: 2}, false},
		{"bad base64", adminapi.PublishRequest{Topic: "a", PayloadBase64: &text}, false},
		{"properties", adminapi.PublishRequest{Topic: "a", Properties: &adminapi.Properties{ContentType: "text/plain", MessageExpiry: ptr(int64(60)),
			UserProperties: []adminapi.UserProperty{{Key: "k", Value: "v"}}, CorrelationData: "aGk="}}, true},
		{"bad payload format", adminapi.PublishRequest{Topic: "a", Properties: &adminapi.Properties{PayloadFormat: ptr(2)}}, false},
		{"expiry out of range", adminapi.PublishRequest{Topic: "a", Properties: &adminapi.Properties{MessageExpiry: ptr(int64(-1))}}, false},
		{"bad response topic", adminapi.PublishRequest{Topic: "a", Properties: &adminapi.Properties{ResponseTopic: "r/+"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := toPublish(tc.req)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err == nil && p.Topic != tc.req.Topic {
				t.Fatalf("topic %q", p.Topic)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
