package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// nextPublish reads until a PUBLISH arrives (acknowledging QoS 1) and
// returns it.
func (c *rawConn) nextPublish() *mqtt.Publish {
	c.t.Helper()
	for {
		p, err := c.read()
		if err != nil {
			c.t.Fatalf("read PUBLISH: %v", err)
		}
		if pub, ok := p.(*mqtt.Publish); ok {
			if pub.QoS == 1 {
				c.send(&mqtt.Puback{PacketID: pub.PacketID})
			}
			return pub
		}
	}
}

// samePartition returns a topic under prefix whose messages share a
// partition with topic: live delivery keeps the order of one partition.
func samePartition(t *testing.T, prefix, topic string) string {
	t.Helper()
	want := kafkalog.PartitionFor([]byte(topic), testPartitions)
	for i := range 1000 {
		name := fmt.Sprintf("%s%d", prefix, i)
		if kafkalog.PartitionFor([]byte(name), testPartitions) == want {
			return name
		}
	}
	t.Fatal("no topic found in the same partition")
	return ""
}

// TestAdminPublishRetainedUnsubscribeDiscard publishes through the API
// (seen by subscribers, with MQTT 5 properties), lists and deletes
// retained messages (a later subscriber gets none), removes a live
// subscription (the client stops receiving on it) and discards sessions;
// the command line does each too.
func TestAdminPublishRetainedUnsubscribeDiscard(t *testing.T) {
	c := newCluster(t, options{frontends: 2})
	api := c.startAdmin(adminOptions{})
	ctx := adminCtx(t)

	// Publish: a 3.1.1 subscriber and an MQTT 5 one get it, properties
	// included.
	sub, _ := c.dial(0, "pub-sub", false)
	sub.subscribe("pub/#", 1)
	sub.subscribe("mark/#", 1)
	v5 := c.dialV5(t, 1, "pub-v5", "props/#")
	text := "hello"
	pr, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "pub/a", Payload: &text, QoS: 1})
	if err != nil || pr.Topic != "pub/a" || pr.Retain != nil {
		t.Fatalf("publish %+v %v", pr, err)
	}
	if got := sub.waitMessages(1); got[0].Topic != "pub/a" || got[0].Payload != "hello" || got[0].QoS != 1 {
		t.Fatalf("subscriber got %+v", got)
	}
	exp := int64(600)
	if _, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "props/x", PayloadBase64: ptrTo("AAEC"), QoS: 1,
		Properties: &adminapi.Properties{ContentType: "application/octet-stream", MessageExpiry: &exp, CorrelationData: "aGk=",
			UserProperties: []adminapi.UserProperty{{Key: "origin", Value: "ops"}}}}); err != nil {
		t.Fatal(err)
	}
	p := v5.nextPublish()
	if p.Topic != "props/x" || string(p.Payload) != "\x00\x01\x02" || p.Properties.ContentType == nil || *p.Properties.ContentType != "application/octet-stream" ||
		string(p.Properties.CorrelationData) != "hi" || len(p.Properties.UserProperties) != 1 || p.Properties.UserProperties[0].Value != "ops" ||
		p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry > 600 {
		t.Fatalf("MQTT 5 subscriber got %+v", p)
	}
	if out := api.mqttAdmin(t, adminSecret, 0, "publish", "--topic", "pub/cli", "--message", "from the cli", "--qos", "1"); !strings.Contains(out, "published to pub/cli") {
		t.Fatalf("mqtt-admin publish:\n%s", out)
	}
	if got := sub.waitMessages(2); got[1].Topic != "pub/cli" || got[1].Payload != "from the cli" {
		t.Fatalf("subscriber got %+v", got)
	}

	// Retained: listed by filter and page, delivered to a new subscriber,
	// deleted, then not delivered.
	for _, tp := range []string{"ret/a", "ret/b", "ret/c", "other/r"} {
		body := "kept " + tp
		if _, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: tp, Payload: &body, QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	cur := ""
	for range 10 {
		l, err := api.read.Retained(ctx, "ret/#", 2, cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range l.Messages {
			if m.Payload == nil || *m.Payload != "kept "+m.Topic || m.QoS != 1 {
				t.Fatalf("retained %+v", m)
			}
			listed = append(listed, m.Topic)
		}
		if cur = l.NextCursor; cur == "" {
			break
		}
	}
	if strings.Join(listed, " ") != "ret/a ret/b ret/c" {
		t.Fatalf("retained under ret/#: %v", listed)
	}
	if out := api.mqttAdmin(t, readSecret, 0, "retained", "ls", "--filter", "ret/+"); !strings.Contains(out, "ret/c") || strings.Contains(out, "other/r") {
		t.Fatalf("mqtt-admin retained ls:\n%s", out)
	}
	first, _ := c.dial(1, "ret-first", true)
	first.subscribe("ret/a", 1)
	if got := first.waitMessages(1); got[0].Payload != "kept ret/a" {
		t.Fatalf("new subscriber got %+v, want the retained message", got)
	}
	del, err := api.admin.DeleteRetained(ctx, "ret/a")
	if err != nil || del.Topic != "ret/a" {
		t.Fatalf("delete retained %+v %v", del, err)
	}
	if out := api.mqttAdmin(t, adminSecret, 0, "retained", "rm", "ret/b"); !strings.Contains(out, "deleted the retained message of ret/b") {
		t.Fatalf("mqtt-admin retained rm:\n%s", out)
	}
	l, err := api.read.Retained(ctx, "ret/#", 0, "")
	if err != nil || len(l.Messages) != 1 || l.Messages[0].Topic != "ret/c" {
		t.Fatalf("after delete: %+v %v", l, err)
	}
	// A subscriber after the delete: the first message on the topic it
	// gets is a live one, published after it subscribed.
	later, _ := c.dial(0, "ret-later", true)
	later.subscribe("ret/a", 1)
	live := "live"
	if _, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: "ret/a", Payload: &live, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if got := later.waitMessages(1); got[0].Payload != "live" {
		t.Fatalf("subscriber after the delete got %+v first, want the live message", got)
	}

	// Unsubscribe a live subscription: a message on it, then a marker on
	// another subscription of the same partition; the marker comes, the
	// message does not.
	res, err := api.admin.Unsubscribe(ctx, "pub-sub", "pub/#")
	if err != nil || !res.Applied || res.Action != adminapi.ActionUnsubscribe {
		t.Fatalf("unsubscribe %+v %v", res, err)
	}
	unsub := c.life.waitEvents("pub-sub", events.SessionUnsubscribed, 1)[0].Data.(*events.Unsubscribed)
	if unsub.Reason != events.UnsubscribeAdministrative || unsub.Operator != "ops" || unsub.Filters[0] != "pub/#" {
		t.Fatalf("unsubscribed event %+v", unsub)
	}
	s, err := api.read.Session(ctx, "pub-sub")
	if err != nil || len(s.Subscriptions) != 1 || s.Subscriptions[0].Filter != "mark/#" {
		t.Fatalf("session after unsubscribe %+v %v", s, err)
	}
	gone := samePartition(t, "pub/gone-", "mark/x")
	for _, tp := range []string{gone, "mark/x"} {
		if _, err := api.admin.Publish(ctx, adminapi.PublishRequest{Topic: tp, Payload: &tp, QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	got := sub.waitMessages(3)
	if len(got) != 3 || got[2].Topic != "mark/x" {
		t.Fatalf("after the unsubscribe the client got %+v", got)
	}
	api.mqttAdmin(t, adminSecret, 1, "session", "unsubscribe", "pub-sub", "pub/#") // no longer there: 404
	if out := api.mqttAdmin(t, adminSecret, 0, "session", "unsubscribe", "pub-sub", "mark/#"); !strings.Contains(out, "unsubscribe pub-sub") {
		t.Fatalf("mqtt-admin session unsubscribe:\n%s", out)
	}

	// Discard: an online session (its client is disconnected) and, from
	// the command line, an offline one.
	dres, err := api.admin.Discard(ctx, "pub-sub")
	if err != nil || !dres.Applied || dres.Session != nil {
		t.Fatalf("discard %+v %v", dres, err)
	}
	sub.waitLost()
	evs := c.life.events("pub-sub")
	c.life.waitPaired("pub-sub")
	if last := stepOf(c.life.waitEvents("pub-sub", events.SessionTerminated, 1)[0]); last.Detail != "administrative" {
		t.Fatalf("pub-sub terminated %v (events %d)", last, len(evs))
	}
	if _, err := api.read.Session(ctx, "pub-sub"); !isStatus(err, 404) {
		t.Fatalf("discarded session still shown: %v", err)
	}
	off, _ := c.dial(1, "disc-off", false)
	off.subscribe("x/#", 1)
	off.disconnect()
	eventually(t, "disc-off offline", func() (bool, string) {
		s, err := api.read.Session(ctx, "disc-off")
		return err == nil && s.State == adminapi.StateOffline, fmt.Sprint(s.State, err)
	})
	var ar adminapi.ActionResult
	if err := json.Unmarshal([]byte(api.mqttAdmin(t, adminSecret, 0, "--json", "session", "discard", "disc-off")), &ar); err != nil || !ar.Applied || ar.Session != nil {
		t.Fatalf("mqtt-admin session discard: %+v %v", ar, err)
	}
	c.life.waitSteps("disc-off", step{events.SessionCreated, ""}, step{events.ClientConnected, "present=false"},
		step{events.SessionSubscribed, ""}, step{events.ClientDisconnected, "normal"}, step{events.SessionTerminated, "administrative"})
}

func ptrTo[T any](v T) *T { return &v }

// isStatus reports whether err is an API answer with the status code.
func isStatus(err error, code int) bool {
	se, ok := err.(*adminapi.StatusError)
	return ok && se.Code == code
}
