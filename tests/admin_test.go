package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// adminCtx bounds a whole admin test's calls (each is bounded by waitFor
// on its own, by the client's timeout).
func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dialV5 connects a raw MQTT 5 client with a persistent session (expiry
// 300 s) and user name alice, subscribed to filter at QoS 1.
func (c *cluster) dialV5(t *testing.T, i int, id, filter string) *rawConn {
	t.Helper()
	rc := dialRaw(t, c.addr(i), mqtt.V5)
	cp := &mqtt.Connect{ClientID: id, KeepAlive: 30, UsernameFlag: true, Username: "alice"}
	cp.Properties.SessionExpiry = mqtt.Ptr(uint32(300))
	if code := rc.connack(cp); code != mqtt.Success {
		t.Fatalf("%s: CONNACK 0x%02x", id, byte(code))
	}
	if codes := rc.subscribe(1, filter); len(codes) != 1 || codes[0] != 1 {
		t.Fatalf("%s: SUBACK %v", id, codes)
	}
	return rc
}

// TestAdminKickShowAndHistory kicks a connected MQTT 5 client through the
// API (it gets DISCONNECT 0x98, and its connected/disconnected events pair
// up), then reads the session (offline, its queue, its backlog), its
// history newest first and page by page, and the nodes; the command line
// does the same.
func TestAdminKickShowAndHistory(t *testing.T) {
	c := newCluster(t, options{frontends: 2})
	api := c.startAdmin(adminOptions{})
	ctx := adminCtx(t)
	const cid = "kick-v5"
	rc := c.dialV5(t, 0, cid, "kick/#")

	eventually(t, "session online in the view", func() (bool, string) {
		s, err := api.read.Session(ctx, cid)
		return err == nil && len(s.Subscriptions) == 1, fmt.Sprint(s, err)
	})
	s, err := api.read.Session(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != adminapi.StateOnline || s.Node != "fe-0" || s.Proto != 5 || s.Username != "alice" || s.Peer == "" ||
		s.ExpiryInterval != 300 || s.ExpiresAt != nil || s.Subscriptions[0].Filter != "kick/#" || s.Subscriptions[0].QoS != 1 ||
		s.CreatedAt.IsZero() || s.ConnectedAt.IsZero() || s.ConnID == "" {
		t.Fatalf("online session %+v", s)
	}
	nodes, err := api.read.Nodes(ctx)
	if err != nil || len(nodes.Nodes) != 1 || nodes.Nodes[0].Node != "fe-0" || nodes.Nodes[0].Connections != 1 {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
	if out := api.mqttAdmin(t, readSecret, 0, "nodes"); !strings.Contains(out, "fe-0") {
		t.Fatalf("mqtt-admin nodes:\n%s", out)
	}

	res, err := api.admin.Disconnect(ctx, cid)
	if err != nil || !res.Applied || res.Action != adminapi.ActionDisconnect || res.Epoch != s.Epoch ||
		res.Session == nil || res.Session.State != adminapi.StateOffline {
		t.Fatalf("disconnect %+v %v", res, err)
	}
	rc.expectDisconnect(mqtt.AdministrativeAction)
	evs := c.life.waitSteps(cid,
		step{events.SessionCreated, ""}, step{events.ClientConnected, "present=false"},
		step{events.SessionSubscribed, ""}, step{events.ClientDisconnected, "administrative"})
	c.life.waitPaired(cid)
	d := evs[3].Data.(*events.Disconnected)
	if d.Operator != "ops" || d.MQTTReasonCode == nil || *d.MQTTReasonCode != 0x98 || d.ConnID != s.ConnID {
		t.Fatalf("disconnected event %+v", d)
	}

	// Offline: what is published for it is queued and shown.
	var refs []adminapi.MessageRef
	for i := range 3 {
		text := fmt.Sprintf("queued-%d", i)
		pr, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "kick/x", Payload: &text, QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, pr.Message)
	}
	eventually(t, "three messages queued", func() (bool, string) {
		s, err = api.read.Session(ctx, cid)
		return err == nil && s.Queue.Length == 3, fmt.Sprint(s.Queue, err)
	})
	if s.State != adminapi.StateOffline || s.ExpiresAt == nil || s.Queue.Oldest.MessageRef != refs[0] || s.Queue.Newest.MessageRef != refs[2] ||
		s.Backlog.Count != 3 || !s.Backlog.Complete {
		t.Fatalf("offline session %+v", s)
	}

	// History, newest first, with the administrative op and its event.
	h, err := api.read.History(ctx, cid, adminapi.HistoryQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]adminapi.HistoryEntry{}
	for i, e := range h.Entries {
		if i > 0 && e.Time.After(h.Entries[i-1].Time) {
			t.Fatalf("history not newest first at %d: %v after %v", i, e.Time, h.Entries[i-1].Time)
		}
		kinds[e.Source+" "+e.Kind] = e
	}
	if e := kinds["op admin_disconnect"]; e.Data["by"] != "ops" {
		t.Fatalf("admin op in history: %+v", e)
	}
	if e := kinds["event mqtt.client.disconnected"]; e.Data["reason"] != "administrative" || e.Data["operator"] != "ops" {
		t.Fatalf("disconnected in history: %+v", e)
	}
	if e := kinds["op connect"]; e.Data["peer"] == "" || e.Data["proto"] != 5.0 {
		t.Fatalf("connect op in history: %+v", e)
	}
	if e := kinds["event mqtt.client.connected"]; e.Data["session_present"] != false || !strings.Contains(e.Summary, "peer=") {
		t.Fatalf("connected in history: %+v", e)
	}
	if h.NextCursor != "" {
		t.Fatalf("a short history has a next page: %q", h.NextCursor)
	}
	// Page by page: the same entries, none twice.
	var paged []adminapi.HistoryEntry
	q := adminapi.HistoryQuery{Limit: 2}
	for range 100 {
		p, err := api.read.History(ctx, cid, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Entries...)
		if q.Cursor = p.NextCursor; q.Cursor == "" {
			break
		}
	}
	if len(paged) != len(h.Entries) {
		t.Fatalf("paged %d entries, one page had %d", len(paged), len(h.Entries))
	}
	for i := range paged {
		if paged[i].Source != h.Entries[i].Source || paged[i].Offset != h.Entries[i].Offset {
			t.Fatalf("entry %d: paged %s %d, whole %s %d", i, paged[i].Kind, paged[i].Offset, h.Entries[i].Kind, h.Entries[i].Offset)
		}
	}

	// The command line: show, history, and a kick of a 3.1.1 client.
	if out := api.mqttAdmin(t, readSecret, 0, "session", "show", cid); !strings.Contains(out, "offline") || !strings.Contains(out, "kick/#") ||
		!strings.Contains(out, "3, oldest") {
		t.Fatalf("mqtt-admin session show:\n%s", out)
	}
	var hj adminapi.History
	if err := json.Unmarshal([]byte(api.mqttAdmin(t, readSecret, 0, "--json", "session", "history", cid, "--limit", "3")), &hj); err != nil || len(hj.Entries) != 3 {
		t.Fatalf("mqtt-admin --json session history: %+v %v", hj, err)
	}
	if out := api.mqttAdmin(t, readSecret, 0, "session", "history", cid, "--source", "op"); !strings.Contains(out, "admin_disconnect") ||
		strings.Contains(out, "mqtt.client") {
		t.Fatalf("mqtt-admin session history --source op:\n%s", out)
	}
	api.mqttAdmin(t, adminSecret, 1, "session", "kick", cid) // not connected: 409
	cl, _ := c.dial(1, "kick-cli", true)
	if out := api.mqttAdmin(t, adminSecret, 0, "session", "kick", "kick-cli"); !strings.Contains(out, "disconnect kick-cli") {
		t.Fatalf("mqtt-admin session kick:\n%s", out)
	}
	cl.waitLost()
	c.life.waitSteps("kick-cli", step{events.SessionCreated, ""}, step{events.ClientConnected, "present=false"},
		step{events.ClientDisconnected, "administrative"}, step{events.SessionTerminated, "administrative"})
	c.life.waitPaired("kick-cli")

	// A third-party MQTT 5 client is told why, too.
	sub := exec.Command(mosquittoTool(t, "mosquitto_sub"), "-h", "127.0.0.1", "-p", strings.Split(c.addr(1), ":")[1],
		"-V", "mqttv5", "-d", "-q", "1", "-c", "-x", "60", "-i", "kick-mosq", "-t", "mosq/#")
	var out syncBuffer
	sub.Stdout, sub.Stderr = &out, &out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Process.Kill(); _ = sub.Wait() })
	eventually(t, "kick-mosq subscribed", func() (bool, string) {
		s, err := api.read.Session(ctx, "kick-mosq")
		return err == nil && len(s.Subscriptions) == 1, out.String()
	})
	if _, err := api.admin.Disconnect(ctx, "kick-mosq"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mosquitto_sub told DISCONNECT 0x98 (152)", func() (bool, string) {
		return strings.Contains(out.String(), "Received DISCONNECT (152)"), out.String()
	})
}
