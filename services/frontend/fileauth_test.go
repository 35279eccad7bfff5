package frontend

import (
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// TestFileAuthACL: an ACL that grants a/# but denies a/secret lets the
// subscription in and withholds the denied topic, live and retained.
func TestFileAuthACL(t *testing.T) {
	acl, err := auth.ParseACL([]byte("topic read a/#\ntopic deny a/secret\ntopic write a/#\n"))
	if err != nil {
		t.Fatal(err)
	}
	fa := FileAuth{A: auth.New(auth.Config{AllowAnonymous: true, ACL: acl})}
	s, _ := newUnitServer(t, func(c *Config) { c.Auth = fa })
	retain(s, "a/secret", "hidden", 0)
	retain(s, "a/open", "shown", 0)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "reader", CleanStart: true})
	ack := subscribe(t, c, 1, mqtt.Subscription{Filter: "a/#"}, mqtt.Subscription{Filter: "b/#"})
	if ack.ReasonCodes[0] != mqtt.GrantedQoS0 || ack.ReasonCodes[1] != mqtt.NotAuthorized {
		t.Fatalf("SUBACK %v, want granted and not authorized", ack.ReasonCodes)
	}
	if p := c.expectPublish(); string(p.Payload) != "shown" {
		t.Fatalf("retained: got %q", p.Payload)
	}
	feed(s, 0, 0, "a/secret", 0, "x", "hidden")
	feed(s, 0, 1, "a/open", 0, "x", "live")
	if p := c.expectPublish(); string(p.Payload) != "live" {
		t.Fatalf("live: got %q", p.Payload)
	}
	c.quiet(100 * time.Millisecond)
}
