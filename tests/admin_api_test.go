package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/services/admin"
)

// request is one call of the API with the token it is made with.
type request struct {
	name, method, path, token, body string
	want                            int
}

// refusals are requests the API must refuse: no token, a read token on an
// action, unknown ClientIDs and such, bad cursors, offsets and limits.
func refusals(msg adminapi.MessageRef) []request {
	explain := func(p, o string) string {
		return "/api/v1/sessions/ref-a/explain?partition=" + p + "&offset=" + o
	}
	po := fmt.Sprint(msg.Partition)
	ok := fmt.Sprint(msg.Offset)
	const (
		a = adminSecret
		r = readSecret
	)
	return []request{
		{"no token", "GET", "/api/v1/sessions", "", "", 401},
		{"no token on the document", "GET", "/api/v1/openapi.yaml", "", "", 401},
		{"unknown token", "GET", "/api/v1/sessions/ref-a", "not-a-token-0123456789", "", 401},
		{"no token on an action", "POST", "/api/v1/sessions/ref-a/disconnect", "", "", 401},
		{"no token on history", "GET", "/api/v1/sessions/ref-a/history", "", "", 401},
		{"no token on explain", "GET", explain(po, ok), "", "", 401},
		{"no token on discard", "DELETE", "/api/v1/sessions/ref-a", "", "", 401},
		{"no token on unsubscribe", "DELETE", "/api/v1/sessions/ref-a/subscriptions?filter=ref/#", "", "", 401},
		{"no token on publish", "POST", "/api/v1/publish", "", `{"topic":"ref/x"}`, 401},
		{"no token on retained", "GET", "/api/v1/retained", "", "", 401},
		{"no token on retained delete", "DELETE", "/api/v1/retained?topic=ref/r", "", "", 401},
		{"no token on nodes", "GET", "/api/v1/nodes", "", "", 401},
		{"read token kicks", "POST", "/api/v1/sessions/ref-a/disconnect", r, "", 403},
		{"read token discards", "DELETE", "/api/v1/sessions/ref-a", r, "", 403},
		{"read token unsubscribes", "DELETE", "/api/v1/sessions/ref-a/subscriptions?filter=ref/#", r, "", 403},
		{"read token publishes", "POST", "/api/v1/publish", r, `{"topic":"ref/x","payload":"x"}`, 403},
		{"read token deletes retained", "DELETE", "/api/v1/retained?topic=ref/r", r, "", 403},
		{"unknown session", "GET", "/api/v1/sessions/nobody", r, "", 404},
		{"unknown history", "GET", "/api/v1/sessions/nobody/history", r, "", 404},
		{"unknown explain", "GET", "/api/v1/sessions/nobody/explain?partition=" + po + "&offset=" + ok, r, "", 404},
		{"kick unknown", "POST", "/api/v1/sessions/nobody/disconnect", a, "", 404},
		{"discard unknown", "DELETE", "/api/v1/sessions/nobody", a, "", 404},
		{"unsubscribe unknown session", "DELETE", "/api/v1/sessions/nobody/subscriptions?filter=ref/#", a, "", 404},
		{"unsubscribe unknown filter", "DELETE", "/api/v1/sessions/ref-a/subscriptions?filter=not/there", a, "", 404},
		{"delete unknown retained", "DELETE", "/api/v1/retained?topic=no/such", a, "", 404},
		{"kick an offline session", "POST", "/api/v1/sessions/ref-a/disconnect", a, "", 409},
		{"bad sessions cursor", "GET", "/api/v1/sessions?cursor=garbage", r, "", 400},
		{"another listing's cursor", "GET", "/api/v1/sessions?cursor=eyJrIjoiciJ9", r, "", 400},
		{"limit zero", "GET", "/api/v1/sessions?limit=0", r, "", 400},
		{"oversized limit", "GET", "/api/v1/sessions?limit=1001", r, "", 400},
		{"limit not a number", "GET", "/api/v1/sessions?limit=many", r, "", 400},
		{"bad state", "GET", "/api/v1/sessions?state=sleeping", r, "", 400},
		{"oversized history limit", "GET", "/api/v1/sessions/ref-a/history?limit=5000", r, "", 400},
		{"bad history cursor", "GET", "/api/v1/sessions/ref-a/history?cursor=%21", r, "", 400},
		{"bad history source", "GET", "/api/v1/sessions/ref-a/history?source=both", r, "", 400},
		{"offset not a number", "GET", explain(po, "x"), r, "", 400},
		{"negative offset", "GET", explain(po, "-1"), r, "", 400},
		{"offset past the end", "GET", explain(po, "999999999"), r, "", 400},
		{"no offset", "GET", "/api/v1/sessions/ref-a/explain?partition=" + po, r, "", 400},
		{"no such partition", "GET", explain("99", ok), r, "", 400},
		{"oversized retained limit", "GET", "/api/v1/retained?limit=2000", r, "", 400},
		{"bad retained cursor", "GET", "/api/v1/retained?cursor=zz", r, "", 400},
		{"bad retained filter", "GET", "/api/v1/retained?filter=" + url.QueryEscape("a/#/b"), r, "", 400},
		{"unsubscribe without filter", "DELETE", "/api/v1/sessions/ref-a/subscriptions", a, "", 400},
		{"retained delete without topic", "DELETE", "/api/v1/retained", a, "", 400},
		{"retained delete of a filter", "DELETE", "/api/v1/retained?topic=" + url.QueryEscape("ref/+"), a, "", 400},
		{"publish bad JSON", "POST", "/api/v1/publish", a, `{"topic":`, 400},
		{"publish QoS 2", "POST", "/api/v1/publish", a, `{"topic":"ref/x","qos":2}`, 400},
		{"publish to a filter", "POST", "/api/v1/publish", a, `{"topic":"ref/#"}`, 400},
		{"publish unknown field", "POST", "/api/v1/publish", a, `{"topic":"ref/x","colour":"red"}`, 400},
		{"publish two payloads", "POST", "/api/v1/publish", a, `{"topic":"ref/x","payload":"a","payload_base64":"YQ=="}`, 400},
	}
}

// TestAdminRefusalsAndOpenAPI checks that every refusal (401, 403, 404,
// 400 with a message, 409) changes nothing in the log or the view, and
// holds the OpenAPI document against the handlers: it is a valid OpenAPI
// 3.1 document, it documents exactly the routes served, every status it
// documents is served, and every answer served (here and in the other
// admin tests) matches it.
func TestAdminRefusalsAndOpenAPI(t *testing.T) {
	c := newCluster(t, options{frontends: 1})
	api := c.startAdmin(adminOptions{applyTimeout: 2 * time.Second})
	ctx := adminCtx(t)

	// A persistent session, offline, with a subscription; a message and a
	// retained message.
	cl, _ := c.dial(0, "ref-a", false)
	cl.subscribe("ref/#", 1)
	cl.disconnect()
	body := "kept"
	if _, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "ref/r", Payload: &body, QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	pr, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "ref/m", Payload: &body, QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "ref-a offline with the message queued", func() (bool, string) {
		s, err := api.read.Session(ctx, "ref-a")
		return err == nil && s.State == adminapi.StateOffline && s.Queue.Length == 2, fmt.Sprint(s.State, s.Queue, err)
	})

	t.Run("refusals change nothing", func(t *testing.T) {
		beforeEnds := c.topicEnds(t)
		beforeSession, _ := api.read.Session(ctx, "ref-a")
		beforeRetained, _ := api.read.Retained(ctx, "", 0, "")
		for _, rq := range refusals(pr.Message) {
			code, b := api.raw(t, rq.method, rq.path, rq.token, rq.body)
			var e adminapi.Error
			if code != rq.want || json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Errorf("%s: %s %s -> %d %s, want %d with a message", rq.name, rq.method, rq.path, code, b, rq.want)
			}
		}
		if after := c.topicEnds(t); !reflect.DeepEqual(after, beforeEnds) {
			t.Errorf("the log moved: before %v after %v", beforeEnds, after)
		}
		afterSession, err := api.read.Session(ctx, "ref-a")
		if err != nil || !reflect.DeepEqual(afterSession, beforeSession) {
			t.Errorf("the session changed:\n before %+v\n after  %+v (%v)", beforeSession, afterSession, err)
		}
		if afterRetained, err := api.read.Retained(ctx, "", 0, ""); err != nil || !reflect.DeepEqual(afterRetained, beforeRetained) {
			t.Errorf("retained messages changed: %+v %v", afterRetained, err)
		}
	})

	t.Run("every documented status is served and matches", func(t *testing.T) {
		doc, err := libopenapi.NewDocument(admin.OpenAPI)
		if err != nil {
			t.Fatal(err)
		}
		if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
			t.Fatalf("OpenAPI version %s, want 3.1", v)
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			for _, e := range verrs {
				t.Errorf("openapi.yaml: %s (%s)", e.Message, e.Reason)
			}
			t.FailNow()
		}
		model, err := doc.BuildV3Model()
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		var routes []string
		for path, item := range model.Model.Paths.PathItems.FromOldest() {
			for method, op := range item.GetOperations().FromOldest() {
				routes = append(routes, strings.ToUpper(method)+" "+path)
				for code := range op.Responses.Codes.KeysFromOldest() {
					documented[strings.ToUpper(method)+" "+path+" "+code] = true
				}
			}
		}
		var served []string
		for _, rt := range admin.Routes() {
			served = append(served, rt.Method+" "+rt.Path)
		}
		sort.Strings(routes)
		sort.Strings(served)
		if !reflect.DeepEqual(routes, served) {
			t.Fatalf("documented routes %v\nserved routes %v", routes, served)
		}

		// Successes of every route.
		text := "x"
		for _, call := range []func() error{
			func() error { _, err := api.read.Sessions(ctx, adminapi.SessionQuery{}); return err },
			func() error { _, err := api.read.Session(ctx, "ref-a"); return err },
			func() error { _, err := api.read.History(ctx, "ref-a", adminapi.HistoryQuery{}); return err },
			func() error {
				_, err := api.read.Explain(ctx, "ref-a", pr.Message.Partition, pr.Message.Offset)
				return err
			},
			func() error { _, err := api.read.Retained(ctx, "ref/#", 0, ""); return err },
			func() error { _, err := api.read.Nodes(ctx); return err },
			func() error {
				_, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "ref/p", Payload: &text})
				return err
			},
			func() error { _, err := api.admin.DeleteRetained(ctx, "ref/r"); return err },
			func() error { _, err := api.admin.Unsubscribe(ctx, "ref-a", "ref/#"); return err },
			func() error { _, err := api.admin.Discard(ctx, "ref-a"); return err },
		} {
			if err := call(); err != nil {
				t.Fatal(err)
			}
		}
		if code, b := api.raw(t, "GET", "/api/v1/openapi.yaml", readSecret, ""); code != 200 || string(b) != string(admin.OpenAPI) {
			t.Fatalf("openapi.yaml: %d", code)
		}
		live, _ := c.dial(0, "ref-live", true)
		live.subscribe("live/#", 1)
		if _, err := api.admin.Disconnect(ctx, "ref-live"); err != nil {
			t.Fatal(err)
		}
		// The refusals were served by the subtest before.
		// Kafka and Redis out of reach: 503 from every route that needs
		// them, documented the same way.
		down := c.startAdmin(adminOptions{check: api.check, unreachable: true})
		for _, rq := range []request{
			{"", "GET", "/api/v1/sessions", readSecret, "", 503},
			{"", "GET", "/api/v1/sessions/ref-a", readSecret, "", 503},
			{"", "GET", "/api/v1/sessions/ref-a/history", readSecret, "", 503},
			{"", "GET", "/api/v1/sessions/ref-a/explain?partition=0&offset=0", readSecret, "", 503},
			{"", "POST", "/api/v1/sessions/ref-a/disconnect", adminSecret, "", 503},
			{"", "DELETE", "/api/v1/sessions/ref-a", adminSecret, "", 503},
			{"", "DELETE", "/api/v1/sessions/ref-a/subscriptions?filter=ref/%23", adminSecret, "", 503},
			{"", "POST", "/api/v1/publish", adminSecret, `{"topic":"ref/x"}`, 503},
			{"", "GET", "/api/v1/retained", readSecret, "", 503},
			{"", "DELETE", "/api/v1/retained?topic=ref/r", adminSecret, "", 503},
			{"", "GET", "/api/v1/nodes", readSecret, "", 503},
		} {
			if code, b := down.raw(t, rq.method, rq.path, rq.token, rq.body); code != rq.want {
				t.Errorf("unreachable: %s %s -> %d %s", rq.method, rq.path, code, b)
			}
		}
		// The session service stopped: actions are logged but not applied
		// within the bound (504).
		for _, id := range []string{"stop-a", "stop-b", "stop-c"} {
			s, _ := c.dial(0, id, false)
			s.subscribe("stop/#", 1)
		}
		eventually(t, "sessions applied", func() (bool, string) {
			l, err := api.read.Sessions(ctx, adminapi.SessionQuery{Prefix: "stop-"})
			return err == nil && len(l.Sessions) == 3, fmt.Sprint(l, err)
		})
		c.sd.stop()
		for _, rq := range []request{
			{"", "POST", "/api/v1/sessions/stop-a/disconnect", adminSecret, "", 504},
			{"", "DELETE", "/api/v1/sessions/stop-b", adminSecret, "", 504},
			{"", "DELETE", "/api/v1/sessions/stop-c/subscriptions?filter=stop/%23", adminSecret, "", 504},
		} {
			if code, b := api.raw(t, rq.method, rq.path, rq.token, rq.body); code != rq.want {
				t.Errorf("session service stopped: %s %s -> %d %s", rq.method, rq.path, code, b)
			}
		}

		seen := map[string]bool{}
		for _, s := range api.check.served() {
			seen[s] = true
			if !documented[s] {
				t.Errorf("served but not documented: %s", s)
			}
		}
		var missing []string
		for d := range documented {
			if !seen[d] && !strings.HasSuffix(d, " default") {
				missing = append(missing, d)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("documented but never served: %s", strings.Join(missing, "\n  "))
		}
	})
}
