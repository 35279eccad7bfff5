package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// TestAdminExplain makes each answer of explain come true with real
// clients and asks for it: delivered, denied by the ACL, no subscription,
// inflight, queued, dropped (the queue_full event named), expired.
func TestAdminExplain(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte("user bob\ntopic readwrite ex/#\ntopic deny ex/secret/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, options{frontends: 1, maxQueued: 2, tune: func(_ int, cfg *frontend.Config) {
		rules, err := auth.OpenACLFile(acl, auth.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth = frontend.FileAuth{A: auth.New(auth.Config{AllowAnonymous: true, ACL: rules})}
	}})
	api := c.startAdmin(adminOptions{aclFile: acl})
	ctx := adminCtx(t)
	publish := func(tp string, expiry int64) adminapi.MessageRef {
		t.Helper()
		req := adminapi.PublishRequest{Topic: tp, Payload: &tp, QoS: 1}
		if expiry > 0 {
			req.Properties = &adminapi.Properties{MessageExpiry: &expiry}
		}
		pr, err := api.admin.Publish(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return pr.Message
	}
	// explainAs polls explain until the verdict is want (the view and the
	// events follow the log a little later) and returns the explanation.
	explainAs := func(cid string, m adminapi.MessageRef, want string) adminapi.Explanation {
		t.Helper()
		var x adminapi.Explanation
		eventually(t, fmt.Sprintf("%s at %d/%d is %s", cid, m.Partition, m.Offset, want), func() (bool, string) {
			var err error
			x, err = api.read.Explain(ctx, cid, m.Partition, m.Offset)
			return err == nil && x.Verdict == want, fmt.Sprintf("%s: %s %v", x.Verdict, x.Detail, err)
		})
		if x.Basis != "history" || x.ACL == adminapi.ACLUnchecked || x.Detail == "" {
			t.Fatalf("explanation %+v", x)
		}
		return x
	}

	online, _ := c.dialAs(0, "ex-online", "bob", false)
	online.subscribe("ex/#", 1)
	delivered := publish("ex/a", 0)
	online.waitMessages(1)
	x := explainAs("ex-online", delivered, adminapi.VerdictDelivered)
	if len(x.Matched) != 1 || x.Matched[0].Filter != "ex/#" || x.Cursor == nil || *x.Cursor <= delivered.Offset || x.ACL != adminapi.ACLAllowed {
		t.Fatalf("delivered: %+v", x)
	}
	x = explainAs("ex-online", publish("ex/secret/x", 0), adminapi.VerdictDenied)
	if x.ACL != adminapi.ACLDenied {
		t.Fatalf("denied: %+v", x)
	}
	x = explainAs("ex-online", publish("elsewhere/x", 0), adminapi.VerdictNoSubscription)
	if len(x.Subscriptions) != 1 || len(x.Matched) != 0 {
		t.Fatalf("no subscription: %+v", x)
	}

	// A client that never acknowledges: inflight.
	rc := dialRaw(t, c.addr(0), mqtt.V5)
	cp := &mqtt.Connect{ClientID: "ex-inflight", KeepAlive: 30, UsernameFlag: true, Username: "bob"}
	cp.Properties.SessionExpiry = mqtt.Ptr(uint32(300))
	if code := rc.connack(cp); code != mqtt.Success {
		t.Fatalf("CONNACK 0x%02x", byte(code))
	}
	rc.subscribe(1, "ex/inflight/#")
	inflight := publish("ex/inflight/1", 0)
	if p, err := rc.read(); err != nil || p.(*mqtt.Publish).Topic != "ex/inflight/1" {
		t.Fatalf("inflight client read %v %v", p, err)
	}
	x = explainAs("ex-inflight", inflight, adminapi.VerdictInflight)
	if x.Inflight == nil || x.Inflight.MessageRef != inflight || x.Inflight.State != "sent" {
		t.Fatalf("inflight: %+v", x)
	}

	// An offline session with a queue of two: queued, then dropped, and
	// a message whose expiry passes while queued.
	off, _ := c.dialAs(0, "ex-off", "bob", false)
	off.subscribe("ex/q/#", 1)
	off.disconnect()
	eventually(t, "ex-off offline", func() (bool, string) {
		s, err := api.read.Session(ctx, "ex-off")
		return err == nil && s.State == adminapi.StateOffline, fmt.Sprint(s.State, err)
	})
	first := publish("ex/q/1", 0)
	explainAs("ex-off", first, adminapi.VerdictQueued)
	publish("ex/q/2", 0)
	publish("ex/q/3", 0)
	x = explainAs("ex-off", first, adminapi.VerdictDropped)
	if x.Event == nil || x.Event.Reason != "queue_full" || x.Event.Type != "mqtt.session.message_dropped" {
		t.Fatalf("dropped: %+v", x)
	}
	short := publish("ex/q/exp", 1)
	explainAs("ex-off", short, adminapi.VerdictExpired)

	// The command line: a table for people, JSON for scripts.
	args := []string{"session", "explain", "ex-off", "--partition", strconv.Itoa(first.Partition), "--offset", strconv.FormatInt(first.Offset, 10)}
	if out := api.mqttAdmin(t, readSecret, 0, args...); !strings.Contains(out, "verdict:") || !strings.Contains(out, "dropped") || !strings.Contains(out, "queue_full") {
		t.Fatalf("mqtt-admin session explain:\n%s", out)
	}
	var xj adminapi.Explanation
	if err := json.Unmarshal([]byte(api.mqttAdmin(t, readSecret, 0, append([]string{"--json"}, args...)...)), &xj); err != nil || xj.Verdict != adminapi.VerdictDropped {
		t.Fatalf("mqtt-admin --json session explain: %+v %v", xj, err)
	}
}
